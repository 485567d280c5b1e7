#include "edgert/builder.h"

namespace edgert {

bool SupportReport::AllSupported() const {
  for (const SupportEntry& e : nodes) {
    if (!e.status.ok()) return false;
  }
  return true;
}

}  // namespace edgert
