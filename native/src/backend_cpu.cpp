#include "backend_cpu.h"

#include <mutex>

// ggml's internal header, for the buffer type struct (backend_cpu_compute_buffer_type): it comes
// from the llama.cpp release whose prebuilt libraries the addon links, so the layouts agree.
#include "ggml-backend-impl.h"
#include "trainer_error.h"

ggml_backend_t backend_cpu_init(const std::string & bins_dir, int32_t n_threads) {
    // Loading registers devices globally; two trainers created at once must not race on it.
    static std::mutex load_mutex;
    {
        std::lock_guard<std::mutex> lock(load_mutex);
        if (ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU) == nullptr) {
            ggml_backend_load_all_from_path(bins_dir.empty() ? nullptr : bins_dir.c_str());
        }
    }
    ggml_backend_dev_t dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (dev == nullptr) {
        throw trainer_error(TRAINER_ERR_UNSUPPORTED_MODEL,
            "No ggml CPU backend could be loaded from " + bins_dir +
            " (no ggml-cpu-* library there fits this CPU, or the folder is wrong). Reinstall node-llama-cpp.");
    }
    ggml_backend_t backend = ggml_backend_dev_init(dev, nullptr);
    if (backend == nullptr) {
        throw trainer_error(TRAINER_ERR_INTERNAL, "The ggml CPU backend failed to initialize.");
    }
    backend_cpu_set_threads(backend, n_threads);
    return backend;
}

void backend_cpu_set_threads(ggml_backend_t backend, int32_t n_threads) {
    if (n_threads <= 0) return;
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(ggml_backend_get_device(backend));
    auto set_n_threads = (ggml_backend_set_n_threads_t) ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_n_threads");
    if (set_n_threads != nullptr) set_n_threads(backend, n_threads);
}

void backend_cpu_set_abort_callback(ggml_backend_t backend, ggml_abort_callback callback, void * data) {
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(ggml_backend_get_device(backend));
    auto set_abort = (ggml_backend_set_abort_callback_t) ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_abort_callback");
    if (set_abort != nullptr) set_abort(backend, callback, data);
}

namespace {

// A cache line, also the width of an AVX-512 register.
constexpr size_t COMPUTE_TENSOR_ALIGNMENT = 64;

const char * compute_buffer_type_name(ggml_backend_buffer_type_t) { return "CPU_Compute"; }

// The buffers themselves are CPU buffers (64-byte aligned bases from ggml_aligned_malloc), so
// everything that looks at a buffer's type sees the CPU's.
ggml_backend_buffer_t compute_buffer_alloc(ggml_backend_buffer_type_t, size_t size) {
    return ggml_backend_buft_alloc_buffer(ggml_backend_cpu_buffer_type(), size);
}

size_t compute_buffer_alignment(ggml_backend_buffer_type_t) { return COMPUTE_TENSOR_ALIGNMENT; }

bool compute_buffer_is_host(ggml_backend_buffer_type_t) { return true; }

}  // namespace

ggml_backend_buffer_type_t backend_cpu_compute_buffer_type() {
    static ggml_backend_buffer_type buft = {
        /* .iface   = */ {
            /* .get_name       = */ compute_buffer_type_name,
            /* .alloc_buffer   = */ compute_buffer_alloc,
            /* .get_alignment  = */ compute_buffer_alignment,
            /* .get_max_size   = */ nullptr,
            /* .get_alloc_size = */ nullptr,
            /* .is_host        = */ compute_buffer_is_host,
        },
        /* .device  = */ nullptr,
        /* .context = */ nullptr,
    };
    return &buft;
}
