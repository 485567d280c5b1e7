#include "registry.h"

namespace edgert {

void RegisterNnOps(OpRegistry& registry) { (void)registry; }

}  // namespace edgert
