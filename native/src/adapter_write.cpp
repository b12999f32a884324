#include "adapter_write.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "gguf.h"
#include "trainer_error.h"

#if defined(_WIN32)
#include <process.h>
#define adapter_getpid _getpid
#else
#include <unistd.h>
#define adapter_getpid getpid
#endif

namespace {

std::string temp_path_for(const std::string & out_path) {
    static std::atomic<uint32_t> counter{0};
    return out_path + ".tmp-" + std::to_string((long) adapter_getpid()) + "-" + std::to_string(counter++);
}

}  // namespace

void adapter_out_path_check(const std::string & out_path) {
    if (out_path.empty()) throw trainer_error(TRAINER_ERR_INVALID_INPUT, "outPath is empty.");
    const std::string probe = temp_path_for(out_path);
    FILE * f = fopen(probe.c_str(), "wb");
    if (f == nullptr) throw trainer_error(TRAINER_ERR_IO, "Cannot create a file next to " + out_path + " (does the folder exist, is it writable?).");
    fclose(f);
    std::remove(probe.c_str());
}

void adapter_write(const base_model & model, const lora_adapter & adapter, const std::string & out_path, bool f16) {
    // A context that owns converted copies of A and B in the output type.
    size_t data_size = 0;
    for (const lora_weight & w : adapter.weights) {
        data_size += ggml_row_size(f16 ? GGML_TYPE_F16 : GGML_TYPE_F32, ggml_nelements(w.a)) + 64;
        data_size += ggml_row_size(f16 ? GGML_TYPE_F16 : GGML_TYPE_F32, ggml_nelements(w.b)) + 64;
    }
    ggml_init_params params = {/*mem_size =*/ data_size + (adapter.weights.size() * 2 + 1) * ggml_tensor_overhead(), nullptr, /*no_alloc =*/ false};
    std::unique_ptr<ggml_context, void (*)(ggml_context *)> ctx(ggml_init(params), ggml_free);
    std::unique_ptr<gguf_context, void (*)(gguf_context *)> gguf(gguf_init_empty(), gguf_free);
    if (!ctx || !gguf) throw trainer_error(TRAINER_ERR_OUT_OF_MEMORY, "Not enough memory to write the adapter.");

    gguf_set_val_str(gguf.get(), "general.type", "adapter");
    gguf_set_val_str(gguf.get(), "general.architecture", model.arch_name.c_str());
    gguf_set_val_str(gguf.get(), "adapter.type", "lora");
    gguf_set_val_f32(gguf.get(), "adapter.lora.alpha", adapter.alpha);

    for (const lora_weight & w : adapter.weights) {
        for (const ggml_tensor * src : {w.a, w.b}) {
            ggml_tensor * dst = ggml_new_tensor_2d(ctx.get(), f16 ? GGML_TYPE_F16 : GGML_TYPE_F32, src->ne[0], src->ne[1]);
            ggml_set_name(dst, src->name);
            if (f16) ggml_fp32_to_fp16_row((const float *) src->data, (ggml_fp16_t *) dst->data, ggml_nelements(src));
            else memcpy(dst->data, src->data, ggml_nbytes(src));
            gguf_add_tensor(gguf.get(), dst);
        }
    }

    const std::string temp = temp_path_for(out_path);
    if (!gguf_write_to_file(gguf.get(), temp.c_str(), false)) {
        std::remove(temp.c_str());
        throw trainer_error(TRAINER_ERR_IO, "Cannot write the adapter to " + temp + ".");
    }
    std::error_code ec;
    std::filesystem::rename(temp, out_path, ec);
    if (ec) {
        std::remove(temp.c_str());
        throw trainer_error(TRAINER_ERR_IO, "Cannot rename the adapter to " + out_path + ": " + ec.message() + ".");
    }
}
