// Registration of the elementwise operator family (see elementwise.h for where each op lives).
#include "elementwise.h"

namespace edgert {

void RegisterElementwiseOps(OpRegistry& registry) {
  ew::RegisterUnaryOps(registry);
  ew::RegisterBinaryOps(registry);
}

}  // namespace edgert
