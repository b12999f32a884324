#include "adapter_write.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "adapter_read.h"
#include "gguf.h"
#include "file_utf8.h"
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
    FILE * f = file_open(probe, "wb");
    if (f == nullptr) throw trainer_error(TRAINER_ERR_IO, "Cannot create a file next to " + out_path + " (does the folder exist, is it writable?).");
    fclose(f);
    file_remove(probe);
}

namespace {

bool is_compact(adapter_out_type out_type) { return out_type == ADAPTER_OUT_Q4_K || out_type == ADAPTER_OUT_Q3_K; }

// One tensor as it goes into the file: name, type, row length (padded) and rows.
struct stored_tensor {
    std::string        name;
    ggml_type          type;
    int64_t            length = 0;  // unpadded row length
    int64_t            ne0 = 0, ne1 = 0;
    std::vector<float> rows;        // ne1 rows of ne0 values
};

stored_tensor stored_form(const adapter_tensor_values & t, adapter_out_type out_type) {
    stored_tensor s;
    s.name = t.name;
    if (!is_compact(out_type)) {
        switch (out_type) {
            case ADAPTER_OUT_F16: s.type = GGML_TYPE_F16; break;
            case ADAPTER_OUT_Q8_0: s.type = t.is_a && t.ne0 % ggml_blck_size(GGML_TYPE_Q8_0) == 0 ? GGML_TYPE_Q8_0 : GGML_TYPE_F16; break;
            default: s.type = GGML_TYPE_F32; break;
        }
        s.length = s.ne0 = t.ne0;
        s.ne1 = t.ne1;
        s.rows.assign(t.data, t.data + t.ne0 * t.ne1);
        return s;
    }
    s.type = out_type == ADAPTER_OUT_Q4_K ? GGML_TYPE_Q4_K : GGML_TYPE_Q3_K;
    const int64_t block = ggml_blck_size(s.type);
    // lora_a [in, r] is stored as it is; lora_b [r, out] as its transpose [out, r].
    const bool transpose = !t.is_a;
    if (transpose) s.name = s.name.substr(0, s.name.size() - strlen(".lora_b")) + ".lora_bt";
    s.length = transpose ? t.ne1 : t.ne0;
    s.ne1 = transpose ? t.ne0 : t.ne1;
    s.ne0 = (s.length + block - 1) / block * block;
    s.rows.assign((size_t) (s.ne0 * s.ne1), 0.0f);
    for (int64_t r = 0; r < s.ne1; r++) {
        for (int64_t i = 0; i < s.length; i++) {
            s.rows[(size_t) (r * s.ne0 + i)] = transpose ? t.data[i * t.ne0 + r] : t.data[r * t.ne0 + i];
        }
    }
    return s;
}

}  // namespace

bool adapter_out_type_parse(const std::string & name, adapter_out_type & out) {
    if (name == "f32") out = ADAPTER_OUT_F32;
    else if (name == "f16") out = ADAPTER_OUT_F16;
    else if (name == "q8_0") out = ADAPTER_OUT_Q8_0;
    else if (name == "q4_k") out = ADAPTER_OUT_Q4_K;
    else if (name == "q3_k") out = ADAPTER_OUT_Q3_K;
    else return false;
    return true;
}

void adapter_write(const base_model & model, const lora_adapter & adapter, const std::string & out_path, adapter_out_type out_type) {
    std::vector<adapter_tensor_values> tensors;
    for (const lora_weight & w : adapter.weights) {
        tensors.push_back({w.a->name, w.a->ne[0], w.a->ne[1], (const float *) w.a->data, true});
        tensors.push_back({w.b->name, w.b->ne[0], w.b->ne[1], (const float *) w.b->data, false});
    }
    adapter_file_write(model.arch_name, adapter.alpha, tensors, out_path, out_type);
}

void adapter_file_write(const std::string & arch, float alpha, const std::vector<adapter_tensor_values> & tensors,
                        const std::string & out_path, adapter_out_type out_type) {
    std::vector<stored_tensor> stored;
    for (const adapter_tensor_values & t : tensors) stored.push_back(stored_form(t, out_type));
    // A context that owns converted copies of the tensors in the output types.
    size_t data_size = 0;
    for (const stored_tensor & t : stored) data_size += ggml_row_size(t.type, t.ne0) * t.ne1 + 64;
    ggml_init_params params = {/*mem_size =*/ data_size + (stored.size() + 1) * ggml_tensor_overhead(), nullptr, /*no_alloc =*/ false};
    std::unique_ptr<ggml_context, void (*)(ggml_context *)> ctx(ggml_init(params), ggml_free);
    std::unique_ptr<gguf_context, void (*)(gguf_context *)> gguf(gguf_init_empty(), gguf_free);
    if (!ctx || !gguf) throw trainer_error(TRAINER_ERR_OUT_OF_MEMORY, "Not enough memory to write the adapter.");

    gguf_set_val_str(gguf.get(), "general.type", "adapter");
    gguf_set_val_str(gguf.get(), "general.architecture", arch.c_str());
    gguf_set_val_str(gguf.get(), "adapter.type", "lora");
    gguf_set_val_f32(gguf.get(), "adapter.lora.alpha", alpha);
    if (is_compact(out_type)) gguf_set_val_str(gguf.get(), ADAPTER_LAYOUT_KEY, "compact");

    for (const stored_tensor & t : stored) {
        ggml_tensor * dst = ggml_new_tensor_2d(ctx.get(), t.type, t.ne0, t.ne1);
        ggml_set_name(dst, t.name.c_str());
        if (t.type == GGML_TYPE_F32) memcpy(dst->data, t.rows.data(), ggml_nbytes(dst));
        else if (t.type == GGML_TYPE_F16) ggml_fp32_to_fp16_row(t.rows.data(), (ggml_fp16_t *) dst->data, t.ne0 * t.ne1);
        else ggml_quantize_chunk(t.type, t.rows.data(), dst->data, 0, t.ne1, t.ne0, nullptr);
        gguf_add_tensor(gguf.get(), dst);
        if (is_compact(out_type)) gguf_set_val_u32(gguf.get(), adapter_length_key(t.name).c_str(), (uint32_t) t.length);
    }

    const std::string temp = temp_path_for(out_path);
    if (!gguf_write_to_file(gguf.get(), temp.c_str(), false)) {
        file_remove(temp);
        throw trainer_error(TRAINER_ERR_IO, "Cannot write the adapter to " + temp + ".");
    }
    std::error_code ec;
    std::filesystem::rename(file_path(temp), file_path(out_path), ec);
    if (ec) {
        file_remove(temp);
        throw trainer_error(TRAINER_ERR_IO, "Cannot rename the adapter to " + out_path + ": " + ec.message() + ".");
    }
}
