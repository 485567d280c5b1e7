#include "registry.h"

namespace edgert {

void RegisterElementwiseOps(OpRegistry& registry) { (void)registry; }

}  // namespace edgert
