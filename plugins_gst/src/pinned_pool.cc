// The pinned allocator and pool (see pinned_pool.h).
//
// EdgertPinnedAllocator: a GstAllocator whose alloc() calls cudaHostAlloc(size + alignment,
// cudaHostAllocMapped | cudaHostAllocPortable) on the configured device, aligns the start as the
// GstAllocationParams ask, and records the matching device pointer. mem_map returns the host
// pointer (the memory is ordinary, coherent host memory). Memory is freed with cudaFreeHost when
// the last reference goes, which may be after the element is gone (the allocator is refcounted).
#include "pinned_pool.h"

#ifdef EDGERT_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace edgert::gst {

#ifdef EDGERT_HAVE_CUDA

namespace {

GST_DEBUG_CATEGORY_STATIC(pinned_debug);
#define GST_CAT_DEFAULT pinned_debug

constexpr const char* kPinnedMemoryType = "EdgertPinnedMemory";

struct PinnedMemory {
  GstMemory mem;
  guint8* base = nullptr;    // cudaHostAlloc result (owned by the root memory)
  guint8* host = nullptr;    // first byte of this memory's data (base + alignment offset)
  guint8* device = nullptr;  // device address of `host`
};

struct EdgertPinnedAllocator {
  GstAllocator parent;
  int device_id;
};
struct EdgertPinnedAllocatorClass {
  GstAllocatorClass parent_class;
};

GType edgert_pinned_allocator_get_type();
G_DEFINE_TYPE(EdgertPinnedAllocator, edgert_pinned_allocator, GST_TYPE_ALLOCATOR)

GstMemory* PinnedAlloc(GstAllocator* allocator, gsize size, GstAllocationParams* params) {
  auto* self = reinterpret_cast<EdgertPinnedAllocator*>(allocator);
  const gsize align = params->align | gst_memory_alignment;
  const gsize maxsize = size + params->prefix + params->padding;
  const gsize alloc_size = maxsize + align;
  cudaError_t err = cudaSetDevice(self->device_id);
  void* base = nullptr;
  if (err == cudaSuccess) err = cudaHostAlloc(&base, alloc_size, cudaHostAllocMapped | cudaHostAllocPortable);
  if (err != cudaSuccess) {
    GST_ERROR("cudaHostAlloc(%" G_GSIZE_FORMAT " bytes, mapped) failed: %s", alloc_size, cudaGetErrorString(err));
    return nullptr;
  }
  void* device = nullptr;
  err = cudaHostGetDevicePointer(&device, base, 0);
  if (err != cudaSuccess) {
    GST_ERROR("cudaHostGetDevicePointer failed: %s", cudaGetErrorString(err));
    cudaFreeHost(base);
    return nullptr;
  }
  auto* mem = new PinnedMemory();
  auto* bytes = static_cast<guint8*>(base);
  const gsize offset = (align - (reinterpret_cast<guintptr>(bytes) & align)) & align;
  mem->base = bytes;
  mem->host = bytes + offset;
  mem->device = static_cast<guint8*>(device) + offset;
  gst_memory_init(GST_MEMORY_CAST(mem), static_cast<GstMemoryFlags>(params->flags), allocator, nullptr, maxsize, 0,
                  params->prefix, size);
  return GST_MEMORY_CAST(mem);
}

void PinnedFree(GstAllocator*, GstMemory* memory) {
  auto* mem = reinterpret_cast<PinnedMemory*>(memory);
  if (memory->parent == nullptr && mem->base != nullptr) {
    const cudaError_t err = cudaFreeHost(mem->base);
    if (err != cudaSuccess) GST_WARNING("cudaFreeHost failed: %s", cudaGetErrorString(err));
  }
  delete mem;
}

gpointer PinnedMap(GstMemory* memory, gsize, GstMapFlags) { return reinterpret_cast<PinnedMemory*>(memory)->host; }
void PinnedUnmap(GstMemory*) {}

GstMemory* PinnedShare(GstMemory* memory, gssize offset, gssize size) {
  auto* src = reinterpret_cast<PinnedMemory*>(memory);
  GstMemory* parent = memory->parent != nullptr ? memory->parent : memory;
  if (size == -1) size = static_cast<gssize>(memory->size) - offset;
  auto* mem = new PinnedMemory();
  mem->base = nullptr;  // the parent frees
  mem->host = src->host;
  mem->device = src->device;
  gst_memory_init(GST_MEMORY_CAST(mem),
                  static_cast<GstMemoryFlags>(GST_MINI_OBJECT_FLAGS(parent) | GST_MINI_OBJECT_FLAG_LOCK_READONLY),
                  memory->allocator, parent, memory->maxsize, memory->align, memory->offset + offset,
                  static_cast<gsize>(size));
  return GST_MEMORY_CAST(mem);
}

void edgert_pinned_allocator_class_init(EdgertPinnedAllocatorClass* klass) {
  GstAllocatorClass* alloc_class = GST_ALLOCATOR_CLASS(klass);
  alloc_class->alloc = PinnedAlloc;
  alloc_class->free = PinnedFree;
  GST_DEBUG_CATEGORY_INIT(pinned_debug, "edgertpinned", 0, "edgert pinned host memory");
}

void edgert_pinned_allocator_init(EdgertPinnedAllocator* self) {
  GstAllocator* alloc = GST_ALLOCATOR_CAST(self);
  alloc->mem_type = kPinnedMemoryType;
  alloc->mem_map = PinnedMap;
  alloc->mem_unmap = PinnedUnmap;
  alloc->mem_share = PinnedShare;
  self->device_id = 0;
  // Not GST_ALLOCATOR_FLAG_CUSTOM_ALLOC: any element may allocate from it (upstream sources must, for
  // the zero-copy path), and sources ignore custom allocators in allocation queries.
}

}  // namespace

GstAllocator* NewPinnedAllocator(int device_id) {
  auto* allocator = static_cast<EdgertPinnedAllocator*>(g_object_new(edgert_pinned_allocator_get_type(), nullptr));
  gst_object_ref_sink(allocator);
  allocator->device_id = device_id;
  return GST_ALLOCATOR_CAST(allocator);
}

GstBufferPool* NewPinnedVideoPool(GstCaps* caps, guint min_buffers, int device_id) {
  GstVideoInfo info;
  if (!gst_video_info_from_caps(&info, caps)) return nullptr;
  GstAllocator* allocator = NewPinnedAllocator(device_id);
  GstBufferPool* pool = gst_video_buffer_pool_new();
  GstStructure* config = gst_buffer_pool_get_config(pool);
  gst_buffer_pool_config_set_params(config, caps, static_cast<guint>(GST_VIDEO_INFO_SIZE(&info)), min_buffers, 0);
  gst_buffer_pool_config_set_allocator(config, GST_ALLOCATOR_CAST(allocator), nullptr);
  gst_buffer_pool_config_add_option(config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  gst_object_unref(allocator);
  if (!gst_buffer_pool_set_config(pool, config)) {
    gst_object_unref(pool);
    return nullptr;
  }
  return pool;
}

gboolean PinnedDevicePointer(GstMemory* memory, const void* host, const void** device) {
  if (memory == nullptr || !gst_memory_is_type(memory, kPinnedMemoryType)) return FALSE;
  auto* mem = reinterpret_cast<PinnedMemory*>(memory);
  const auto* p = static_cast<const guint8*>(host);
  if (p < mem->host || p >= mem->host + memory->maxsize) return FALSE;
  *device = mem->device + (p - mem->host);
  return TRUE;
}

#else  // !EDGERT_HAVE_CUDA

GstBufferPool* NewPinnedVideoPool(GstCaps*, guint, int) { return nullptr; }
GstAllocator* NewPinnedAllocator(int) { return nullptr; }
gboolean PinnedDevicePointer(GstMemory*, const void*, const void**) { return FALSE; }

#endif

}  // namespace edgert::gst
