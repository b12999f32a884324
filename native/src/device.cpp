#include "device.h"

#include <cstring>
#include <mutex>
#include <set>

#include "ggml.h"
#include "trainer_error.h"

namespace {

const char * device_type_name(enum ggml_backend_dev_type type) {
    switch (type) {
        case GGML_BACKEND_DEVICE_TYPE_CPU:  return "cpu";
        case GGML_BACKEND_DEVICE_TYPE_GPU:  return "gpu";
        case GGML_BACKEND_DEVICE_TYPE_IGPU: return "igpu";
        default:                            return "accel";
    }
}

}  // namespace

std::vector<std::string> device_backends_load(const std::vector<std::string> & paths) {
    // Loading registers devices globally; trainers created at once must not race on it, and a
    // library loaded twice would register its devices twice.
    static std::mutex load_mutex;
    static std::set<std::string> attempted;
    static std::vector<std::string> failures;
    std::lock_guard<std::mutex> lock(load_mutex);
    for (const std::string & path : paths) {
        if (!attempted.insert(path).second) continue;
        if (ggml_backend_load(path.c_str()) == nullptr) failures.push_back("The GPU backend " + path + " did not load (its driver or libraries are missing).");
    }
    return failures;
}

std::vector<device_info> device_list() {
    std::vector<device_info> out;
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        ggml_backend_dev_props props;
        ggml_backend_dev_get_props(dev, &props);
        device_info d;
        d.name = props.name != nullptr ? props.name : "";
        d.description = props.description != nullptr ? props.description : "";
        d.type = device_type_name(props.type);
        d.memory_free = props.memory_free;
        d.memory_total = props.memory_total;
        out.push_back(d);
    }
    return out;
}

ggml_backend_dev_t device_find(const std::string & name) {
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        if (name == ggml_backend_dev_name(dev)) return dev;
    }
    return nullptr;
}

ggml_backend_buffer_t device_tensors_move(ggml_context * ctx, ggml_backend_buffer_type_t buft, const std::string & what) {
    // Where each tensor's bytes are now: a host pointer when its buffer is in host memory (the
    // model's memory map: no copy), else a copy read back from the device (adapters: small).
    struct source { ggml_tensor * t; void * data; ggml_backend_buffer_t buffer; const void * host; std::vector<uint8_t> copy; };
    std::vector<source> sources;
    for (ggml_tensor * t = ggml_get_first_tensor(ctx); t != nullptr; t = ggml_get_next_tensor(ctx, t)) {
        if (t->data == nullptr || t->view_src != nullptr) continue;
        source s = {t, t->data, t->buffer, nullptr, {}};
        if (t->buffer != nullptr && ggml_backend_buffer_is_host(t->buffer)) {
            s.host = t->data;
        } else {
            s.copy.resize(ggml_nbytes(t));
            ggml_backend_tensor_get(t, s.copy.data(), 0, s.copy.size());
        }
        sources.push_back(std::move(s));
    }
    for (source & s : sources) {
        s.t->data = nullptr;
        s.t->buffer = nullptr;
    }
    ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors_from_buft(ctx, buft);
    if (buf == nullptr) {
        for (source & s : sources) {  // the tensors stay where they were
            s.t->data = s.data;
            s.t->buffer = s.buffer;
        }
        throw trainer_error(TRAINER_ERR_OUT_OF_MEMORY, "Not enough memory on " + std::string(ggml_backend_buft_name(buft)) + " for " + what + ".");
    }
    for (const source & s : sources) {
        ggml_backend_tensor_set(s.t, s.host != nullptr ? s.host : s.copy.data(), 0, ggml_nbytes(s.t));
    }
    return buf;
}
