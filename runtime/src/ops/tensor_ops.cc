#include "registry.h"

namespace edgert {

void RegisterTensorOps(OpRegistry& registry) { (void)registry; }

}  // namespace edgert
