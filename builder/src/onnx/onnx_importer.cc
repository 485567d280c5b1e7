// ONNX import.
//  1. Parse the ModelProto (total-bytes limit 2 GiB, the protobuf maximum) and check the ai.onnx
//     opset.
//  2. Initializers become constant values (TensorFromProto validates every size before
//     allocating); sparse initializers are unsupported.
//  3. Graph inputs that are not initializers become Graph::inputs with their declared dtype and
//     shape. Declarations of outputs and value_info are merged into the values; two declarations
//     of one value (or a declaration and an initializer's real shape) that contradict are an error.
//  4. Nodes in order: Constant nodes become constant values; every other node becomes a Node with
//     a unique name, its attributes converted, "" inputs as -1, "" outputs in the middle renamed
//     "<node>:<k>" and trailing "" outputs dropped. Writing a value that is already defined
//     (input, initializer, constant or another node's output) is an error.
//  5. Every graph output must be defined by then.
#include "onnx/onnx_importer.h"

#include <climits>
#include <unordered_map>
#include <unordered_set>

#include "onnx/onnx.pb.h"
#include "onnx/tensor_proto.h"

namespace edgert {
namespace {

// ai.onnx opsets edgert builds. 11..21 is the supported range; 7..10 are accepted only because
// Upsample (deprecated by opset 10 in favour of Resize) lives there and models exported with it are
// still common. Operators whose meaning changed between opsets read Node::opset.
constexpr int kMinOpset = 7;
constexpr int kMinSupportedOpset = 11;
constexpr int kMaxOpset = 21;

// Largest model file read into memory: protobuf cannot parse more than 2 GiB.
constexpr size_t kMaxModelBytes = static_cast<size_t>(INT_MAX);

std::string Quote(const std::string& s) { return "'" + s + "'"; }

onnx::AttributeProto::AttributeType TypeFromPresentField(const onnx::AttributeProto& attr) {
  if (attr.has_f()) return onnx::AttributeProto::FLOAT;
  if (attr.has_i()) return onnx::AttributeProto::INT;
  if (attr.has_s()) return onnx::AttributeProto::STRING;
  if (attr.has_t()) return onnx::AttributeProto::TENSOR;
  if (attr.has_g()) return onnx::AttributeProto::GRAPH;
  if (attr.floats_size() > 0) return onnx::AttributeProto::FLOATS;
  if (attr.ints_size() > 0) return onnx::AttributeProto::INTS;
  if (attr.strings_size() > 0) return onnx::AttributeProto::STRINGS;
  return onnx::AttributeProto::UNDEFINED;
}

class Importer {
 public:
  Importer(std::string base_dir, std::string display) : base_dir_(std::move(base_dir)), display_(std::move(display)) {}

  StatusOr<Graph> Run(onnx::ModelProto* model);

 private:
  Status ImportOpset(const onnx::ModelProto& model);
  Status ImportInitializers(onnx::GraphProto* graph);
  Status ImportInputs(const onnx::GraphProto& graph);
  Status ImportDeclarations(const onnx::GraphProto& graph);
  Status ImportNode(const onnx::NodeProto& proto, int index);
  Status ImportConstantNode(const onnx::NodeProto& proto, const std::string& name);
  Status ImportAttribute(const onnx::AttributeProto& attr, Node* node);
  // Merges a declared type into value `id`; `what` says where it was declared ("input", ...).
  Status Declare(int id, const onnx::TypeProto& type, const std::string& what);
  // Marks value `id` as defined by `who`; error if something already defines it.
  Status Define(int id, const std::string& who);
  std::string UniqueNodeName(const std::string& wanted);
  std::string UniqueValueName(const std::string& wanted);

  Status Error(StatusCode code, const std::string& msg, const std::string& subject) const {
    return Status(code, display_ + ": " + msg, subject);
  }

  std::string base_dir_;
  std::string display_;
  Graph g_;
  std::unordered_map<int, std::string> defined_by_;  // value id -> "graph input", "node 'x'", ...
  std::unordered_set<std::string> node_names_;
};

Status Importer::ImportOpset(const onnx::ModelProto& model) {
  int opset = -1;
  for (const onnx::OperatorSetIdProto& entry : model.opset_import()) {
    if (entry.domain().empty() || entry.domain() == "ai.onnx") {
      if (opset >= 0) {
        return Error(StatusCode::kInvalidArgument, "opset_import lists the ai.onnx domain twice", "opset_import");
      }
      opset = entry.version() > INT_MAX || entry.version() < 0 ? INT_MAX : static_cast<int>(entry.version());
    }
  }
  if (opset < 0) {
    std::string domains;
    for (const onnx::OperatorSetIdProto& entry : model.opset_import()) {
      domains += (domains.empty() ? "" : ", ") + entry.domain() + " " + std::to_string(entry.version());
    }
    return Error(StatusCode::kUnsupported,
                 "the model imports no ai.onnx opset (opset_import: " +
                     (domains.empty() ? std::string("empty, an IR version 1/2 model") : domains) +
                     "); edgert supports ai.onnx opsets " + std::to_string(kMinSupportedOpset) + " to " +
                     std::to_string(kMaxOpset),
                 "opset_import");
  }
  if (opset < kMinOpset || opset > kMaxOpset) {
    return Error(StatusCode::kUnsupported,
                 "ai.onnx opset " + std::to_string(opset) + " is not supported (edgert supports opsets " +
                     std::to_string(kMinSupportedOpset) + " to " + std::to_string(kMaxOpset) + "; convert with " +
                     "onnx.version_converter)",
                 "opset_import");
  }
  g_.opset = opset;
  return Status::Ok();
}

Status Importer::Define(int id, const std::string& who) {
  auto [it, inserted] = defined_by_.emplace(id, who);
  if (!inserted) {
    return Error(StatusCode::kInvalidArgument,
                 who + " defines " + Quote(g_.values[id].name) + ", which " + it->second + " already defines",
                 g_.values[id].name);
  }
  return Status::Ok();
}

Status Importer::ImportInitializers(onnx::GraphProto* graph) {
  if (graph->sparse_initializer_size() > 0) {
    const onnx::SparseTensorProto& sp = graph->sparse_initializer(0);
    std::string name = sp.has_values() ? sp.values().name() : std::string();
    return Error(StatusCode::kUnsupported,
                 "sparse initializer " + Quote(name) + " is not supported (store it as a dense initializer)", name);
  }
  for (onnx::TensorProto& init : *graph->mutable_initializer()) {
    if (init.name().empty()) {
      return Error(StatusCode::kInvalidArgument, "an initializer has no name", "initializer");
    }
    int id = g_.GetOrAdd(init.name());
    EDGERT_RETURN_IF_ERROR(Define(id, "initializer " + Quote(init.name())));
    TensorProtoSource src{base_dir_, display_ + ": initializer " + Quote(init.name()), init.name()};
    EDGERT_ASSIGN_OR_RETURN(Tensor t, TakeTensorFromProto(&init, src));
    Value& v = g_.values[id];
    v.dtype = t.dtype();
    v.shape = t.shape();
    v.has_shape = true;
    v.dim_params.assign(v.shape.size(), std::string());
    v.constant = std::move(t);
  }
  return Status::Ok();
}

Status Importer::Declare(int id, const onnx::TypeProto& type, const std::string& what) {
  Value& v = g_.values[id];
  if (type.value_case() != onnx::TypeProto::kTensorType) return Status::Ok();  // sequence, map, ...
  const onnx::TypeProto::Tensor& tt = type.tensor_type();
  DataType dtype = DataTypeFromOnnx(tt.elem_type());
  if (dtype != DataType::kUndefined) {
    if (v.dtype != DataType::kUndefined && v.dtype != dtype) {
      return Error(StatusCode::kInvalidArgument,
                   what + " " + Quote(v.name) + " is declared " + DataTypeName(dtype) + " but is " +
                       DataTypeName(v.dtype) + " elsewhere in the model",
                   v.name);
    }
    v.dtype = dtype;
  }
  if (!tt.has_shape()) return Status::Ok();
  Shape shape;
  std::vector<std::string> params;
  for (const onnx::TensorShapeProto::Dimension& dim : tt.shape().dim()) {
    // Some exporters (Paddle2ONNX, older converters) write a dynamic dimension as dim_value -1
    // instead of a dim_param; ONNX Runtime accepts it, and so does edgert. Other negatives are errors.
    const bool dynamic_value =
        dim.value_case() == onnx::TensorShapeProto::Dimension::kDimValue && dim.dim_value() == -1;
    if (dim.value_case() == onnx::TensorShapeProto::Dimension::kDimValue && !dynamic_value) {
      if (dim.dim_value() < 0) {
        return Error(
            StatusCode::kInvalidArgument,
            what + " " + Quote(v.name) + " is declared with negative dimension " + std::to_string(dim.dim_value()),
            v.name);
      }
      shape.push_back(dim.dim_value());
      params.emplace_back();
    } else {
      shape.push_back(-1);
      params.push_back(dim.value_case() == onnx::TensorShapeProto::Dimension::kDimParam ? dim.dim_param()
                                                                                        : std::string());
    }
  }
  if (!v.has_shape) {
    v.shape = std::move(shape);
    v.dim_params = std::move(params);
    v.has_shape = true;
    return Status::Ok();
  }
  bool same = v.shape.size() == shape.size();
  for (size_t d = 0; same && d < shape.size(); ++d) {
    same = v.shape[d] < 0 || shape[d] < 0 || v.shape[d] == shape[d];
  }
  if (!same) {
    return Error(StatusCode::kInvalidArgument,
                 what + " " + Quote(v.name) + " is declared with shape " + ShapeToString(shape) + " but has shape " +
                     ShapeToString(v.shape) + " elsewhere in the model",
                 v.name);
  }
  v.dim_params.resize(v.shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    if (v.shape[d] < 0 && shape[d] >= 0) v.shape[d] = shape[d];
    if (v.dim_params[d].empty() && v.shape[d] < 0) v.dim_params[d] = params[d];
  }
  return Status::Ok();
}

Status Importer::ImportInputs(const onnx::GraphProto& graph) {
  std::unordered_set<std::string> seen;
  for (const onnx::ValueInfoProto& in : graph.input()) {
    if (in.name().empty()) return Error(StatusCode::kInvalidArgument, "a graph input has no name", "input");
    if (!seen.insert(in.name()).second) {
      return Error(StatusCode::kInvalidArgument, "graph input " + Quote(in.name()) + " is listed twice", in.name());
    }
    int id = g_.GetOrAdd(in.name());
    // IR v3 style: an input that is also an initializer is a constant with a default value.
    if (!g_.values[id].constant.defined()) {
      EDGERT_RETURN_IF_ERROR(Define(id, "graph input " + Quote(in.name())));
      g_.inputs.push_back(id);
    }
    EDGERT_RETURN_IF_ERROR(Declare(id, in.type(), "graph input"));
  }
  return Status::Ok();
}

Status Importer::ImportDeclarations(const onnx::GraphProto& graph) {
  for (const onnx::ValueInfoProto& out : graph.output()) {
    if (out.name().empty()) return Error(StatusCode::kInvalidArgument, "a graph output has no name", "output");
    int id = g_.GetOrAdd(out.name());
    g_.outputs.push_back(id);
    EDGERT_RETURN_IF_ERROR(Declare(id, out.type(), "graph output"));
  }
  for (const onnx::ValueInfoProto& info : graph.value_info()) {
    if (info.name().empty()) continue;  // nothing refers to it
    EDGERT_RETURN_IF_ERROR(Declare(g_.GetOrAdd(info.name()), info.type(), "value"));
  }
  return Status::Ok();
}

std::string Importer::UniqueNodeName(const std::string& wanted) {
  std::string name = wanted;
  for (int k = 1; node_names_.count(name) != 0; ++k) name = wanted + "_" + std::to_string(k);
  node_names_.insert(name);
  return name;
}

std::string Importer::UniqueValueName(const std::string& wanted) {
  std::string name = wanted;
  for (int k = 1; g_.Find(name) >= 0; ++k) name = wanted + "_" + std::to_string(k);
  return name;
}

Status Importer::ImportAttribute(const onnx::AttributeProto& attr, Node* node) {
  const std::string where = "attribute " + Quote(attr.name()) + " of node " + Quote(node->name);
  if (attr.name().empty()) {
    return Error(StatusCode::kInvalidArgument, "node " + Quote(node->name) + " has an attribute without a name",
                 node->name);
  }
  if (node->attrs.Has(attr.name())) {
    return Error(StatusCode::kInvalidArgument, where + " is given twice", node->name);
  }
  onnx::AttributeProto::AttributeType type = attr.type();
  if (type == onnx::AttributeProto::UNDEFINED) {
    // Old exporters leave `type` unset; the field that is present says it.
    type = TypeFromPresentField(attr);
    if (type == onnx::AttributeProto::UNDEFINED) {
      return Error(StatusCode::kInvalidArgument, where + " has no type and no value", node->name);
    }
  }
  switch (type) {
    case onnx::AttributeProto::FLOAT:
      node->attrs.Set(attr.name(), attr.f());
      break;
    case onnx::AttributeProto::INT:
      node->attrs.Set(attr.name(), static_cast<int64_t>(attr.i()));
      break;
    case onnx::AttributeProto::STRING:
      node->attrs.Set(attr.name(), attr.s());
      break;
    case onnx::AttributeProto::TENSOR: {
      TensorProtoSource src{base_dir_, display_ + ": " + where, node->name};
      EDGERT_ASSIGN_OR_RETURN(Tensor t, TensorFromProto(attr.t(), src));
      node->attrs.Set(attr.name(), std::move(t));
      break;
    }
    case onnx::AttributeProto::INTS:
      node->attrs.Set(attr.name(), std::vector<int64_t>(attr.ints().begin(), attr.ints().end()));
      break;
    case onnx::AttributeProto::FLOATS:
      node->attrs.Set(attr.name(), std::vector<float>(attr.floats().begin(), attr.floats().end()));
      break;
    case onnx::AttributeProto::STRINGS:
      node->attrs.Set(attr.name(), std::vector<std::string>(attr.strings().begin(), attr.strings().end()));
      break;
    default:
      // Graphs (If/Loop/Scan bodies), sparse tensors, type protos and tensor lists: no edgert
      // operator takes them, so the node cannot be built; the support report says the operator
      // is not supported.
      node->known = false;
      break;
  }
  return Status::Ok();
}

Status Importer::ImportConstantNode(const onnx::NodeProto& proto, const std::string& name) {
  const std::string label = "Constant node " + Quote(name);
  int n_outputs = proto.output_size();
  if (n_outputs != 1 || proto.output(0).empty() || proto.input_size() != 0) {
    return Error(StatusCode::kInvalidArgument, label + " must have no inputs and exactly one named output", name);
  }
  if (proto.attribute_size() != 1) {
    return Error(StatusCode::kInvalidArgument,
                 label +
                     " must have exactly one of the attributes value, value_float, value_floats, value_int, "
                     "value_ints (it has " +
                     std::to_string(proto.attribute_size()) + ")",
                 name);
  }
  const onnx::AttributeProto& attr = proto.attribute(0);
  const std::string& key = attr.name();
  Tensor t;
  if (key == "value") {
    if (!attr.has_t()) return Error(StatusCode::kInvalidArgument, label + ": attribute 'value' holds no tensor", name);
    TensorProtoSource src{base_dir_, display_ + ": " + label + " value", name};
    EDGERT_ASSIGN_OR_RETURN(t, TensorFromProto(attr.t(), src));
  } else if (key == "value_float") {
    t = Tensor::Scalar<float>(attr.f());
  } else if (key == "value_int") {
    t = Tensor::Scalar<int64_t>(attr.i());
  } else if (key == "value_floats") {
    std::vector<float> v(attr.floats().begin(), attr.floats().end());
    t = Tensor::FromVector<float>(v, {static_cast<int64_t>(v.size())});
  } else if (key == "value_ints") {
    std::vector<int64_t> v(attr.ints().begin(), attr.ints().end());
    t = Tensor::FromVector<int64_t>(v, {static_cast<int64_t>(v.size())});
  } else if (key == "value_string" || key == "value_strings" || key == "sparse_value") {
    return Error(StatusCode::kUnsupported, label + ": attribute " + Quote(key) + " is not supported", name);
  } else {
    return Error(StatusCode::kInvalidArgument, label + " has unknown attribute " + Quote(key), name);
  }
  const std::string& out = proto.output(0);
  int id = g_.GetOrAdd(out);
  EDGERT_RETURN_IF_ERROR(Define(id, label));
  Value& v = g_.values[id];
  // A declaration (value_info, graph output) must agree with the constant's real type.
  if (v.dtype != DataType::kUndefined && v.dtype != t.dtype()) {
    return Error(StatusCode::kInvalidArgument,
                 label + " produces " + Quote(out) + " as " + DataTypeName(t.dtype()) + " but the model declares it " +
                     DataTypeName(v.dtype),
                 name);
  }
  if (v.has_shape) {
    bool same = v.shape.size() == t.shape().size();
    for (size_t d = 0; same && d < v.shape.size(); ++d) same = v.shape[d] < 0 || v.shape[d] == t.shape()[d];
    if (!same) {
      return Error(StatusCode::kInvalidArgument,
                   label + " produces " + Quote(out) + " with shape " + ShapeToString(t.shape()) +
                       " but the model declares " + ShapeToString(v.shape),
                   name);
    }
  }
  v.dtype = t.dtype();
  v.shape = t.shape();
  v.has_shape = true;
  v.dim_params.assign(v.shape.size(), std::string());
  v.constant = std::move(t);
  return Status::Ok();
}

Status Importer::ImportNode(const onnx::NodeProto& proto, int index) {
  std::string domain = proto.domain() == "ai.onnx" ? std::string() : proto.domain();
  if (proto.op_type().empty()) {
    std::string label = proto.name().empty() ? "node " + std::to_string(index) : "node " + Quote(proto.name());
    return Error(StatusCode::kInvalidArgument, label + " has no op_type", proto.name());
  }
  const std::string name =
      UniqueNodeName(proto.name().empty() ? proto.op_type() + "_" + std::to_string(index) : proto.name());
  if (domain.empty() && proto.op_type() == "Constant") return ImportConstantNode(proto, name);

  Node node;
  node.name = name;
  node.op_type = proto.op_type();
  node.domain = domain;
  node.opset = g_.opset;
  if (domain.empty()) {
    const OpInfo* info = FindOpInfoByName(proto.op_type());
    if (info != nullptr) {
      node.known = true;
      node.op = info->type;
    }
  }
  for (const onnx::AttributeProto& attr : proto.attribute()) EDGERT_RETURN_IF_ERROR(ImportAttribute(attr, &node));
  for (const std::string& in : proto.input()) node.inputs.push_back(in.empty() ? -1 : g_.GetOrAdd(in));
  int last = proto.output_size() - 1;
  while (last >= 0 && proto.output(last).empty()) --last;
  const std::string label = node.op_type + " node " + Quote(name);
  for (int k = 0; k <= last; ++k) {
    const std::string& out = proto.output(k);
    int id = g_.GetOrAdd(out.empty() ? UniqueValueName(name + ":" + std::to_string(k)) : out);
    EDGERT_RETURN_IF_ERROR(Define(id, label));
    node.outputs.push_back(id);
  }
  g_.nodes.push_back(std::move(node));
  return Status::Ok();
}

StatusOr<Graph> Importer::Run(onnx::ModelProto* model) {
  EDGERT_RETURN_IF_ERROR(ImportOpset(*model));
  const onnx::GraphProto& graph = model->graph();
  g_.name = graph.name();
  EDGERT_RETURN_IF_ERROR(ImportInitializers(model->mutable_graph()));
  EDGERT_RETURN_IF_ERROR(ImportInputs(graph));
  EDGERT_RETURN_IF_ERROR(ImportDeclarations(graph));
  for (int i = 0; i < graph.node_size(); ++i) EDGERT_RETURN_IF_ERROR(ImportNode(graph.node(i), i));
  for (int out : g_.outputs) {
    if (defined_by_.count(out) == 0) {
      const std::string& name = g_.values[out].name;
      return Error(StatusCode::kInvalidArgument,
                   "graph output " + Quote(name) + " is not computed by any node, input or initializer", name);
    }
  }
  return std::move(g_);
}

Status ParseModel(const void* data, size_t size, const std::string& display_name, onnx::ModelProto* model) {
  if (size == 0) return Corrupt(display_name + ": not a valid ONNX protobuf (the file is empty)", display_name);
  if (size > kMaxModelBytes) {
    return Unsupported(display_name + ": the model is larger than 2 GiB; store its weights as external data",
                       display_name);
  }
  if (!ParseProtoFromBytes(data, size, model)) {
    return Corrupt(display_name + ": not a valid ONNX protobuf (truncated, or not an ONNX model)", display_name);
  }
  if (!model->has_graph()) {
    return Corrupt(display_name + ": not a valid ONNX protobuf (no graph; is this an ONNX model?)", display_name);
  }
  return Status::Ok();
}

}  // namespace

StatusOr<Graph> ImportOnnxBytes(const void* data, size_t size, const std::string& base_dir,
                                const std::string& display_name) {
  onnx::ModelProto model;
  EDGERT_RETURN_IF_ERROR(ParseModel(data, size, display_name, &model));
  return Importer(base_dir, display_name).Run(&model);
}

StatusOr<Graph> ImportOnnxFile(const std::string& path) {
  onnx::ModelProto model;
  {
    // The file's bytes are freed once parsed: at most the bytes and the message coexist.
    std::string bytes;
    Status s = ReadFileBytes(path, kMaxModelBytes, &bytes);
    if (s.code() == StatusCode::kOutOfRange) {
      return Unsupported(path + ": the model is larger than 2 GiB; store its weights as external data", path);
    }
    EDGERT_RETURN_IF_ERROR(s);
    EDGERT_RETURN_IF_ERROR(ParseModel(bytes.data(), bytes.size(), path, &model));
  }
  return Importer(DirName(path), path).Run(&model);
}

}  // namespace edgert
