// CUDA engine: placeholder test file (engine tests land with the engine).
#include "gpu_test_util.h"
