#include "backend_cpu.h"

#include <mutex>

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
