// The "nn" operator family: convolution, pooling, normalisation, linear algebra and softmax. The
// implementations live in nn_conv.cc, nn_pool.cc, nn_norm.cc and nn_linalg.cc (shared helpers in
// nn_common.h).
#include "nn_common.h"

namespace edgert {

void RegisterNnOps(OpRegistry& registry) {
  RegisterNnConvOps(registry);
  RegisterNnPoolOps(registry);
  RegisterNnNormOps(registry);
  RegisterNnLinalgOps(registry);
}

}  // namespace edgert
