#include "ir/graph.h"

namespace edgert {

int Graph::Find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? -1 : it->second;
}

int Graph::GetOrAdd(const std::string& name) {
  auto it = index_.find(name);
  if (it != index_.end()) return it->second;
  int id = static_cast<int>(values.size());
  values.emplace_back();
  values.back().name = name;
  index_[name] = id;
  return id;
}

}  // namespace edgert
