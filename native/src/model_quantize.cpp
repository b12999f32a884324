#include "model_quantize.h"

#include <cstdio>
#include <map>
#include <mutex>

#include "llama.h"
#include "file_utf8.h"
#include "trainer_error.h"

void model_quantize(const std::string & in_path, const std::string & out_path, const std::string & type, int32_t n_threads) {
    static const std::map<std::string, llama_ftype> ftypes = {
        {"f32", LLAMA_FTYPE_ALL_F32},           {"f16", LLAMA_FTYPE_MOSTLY_F16},       {"bf16", LLAMA_FTYPE_MOSTLY_BF16},
        {"q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},      {"q4_0", LLAMA_FTYPE_MOSTLY_Q4_0},     {"q4_1", LLAMA_FTYPE_MOSTLY_Q4_1},
        {"q5_0", LLAMA_FTYPE_MOSTLY_Q5_0},      {"q5_1", LLAMA_FTYPE_MOSTLY_Q5_1},     {"q2_k", LLAMA_FTYPE_MOSTLY_Q2_K},
        {"q3_k_m", LLAMA_FTYPE_MOSTLY_Q3_K_M},  {"q4_k_s", LLAMA_FTYPE_MOSTLY_Q4_K_S}, {"q4_k_m", LLAMA_FTYPE_MOSTLY_Q4_K_M},
        {"q5_k_s", LLAMA_FTYPE_MOSTLY_Q5_K_S},  {"q5_k_m", LLAMA_FTYPE_MOSTLY_Q5_K_M}, {"q6_k", LLAMA_FTYPE_MOSTLY_Q6_K},
    };
    auto it = ftypes.find(type);
    if (it == ftypes.end()) throw trainer_error(TRAINER_ERR_INVALID_INPUT, "Unknown quantization type '" + type + "'.");
    FILE * f = file_open(in_path, "rb");
    if (f == nullptr) throw trainer_error(TRAINER_ERR_IO, "Cannot open the model file " + in_path + ".");
    fclose(f);

    static std::once_flag init_once;
    std::call_once(init_once, [] { llama_backend_init(); });
    llama_model_quantize_params params = llama_model_quantize_default_params();
    params.ftype = it->second;
    params.nthread = n_threads;
    if (llama_model_quantize(in_path.c_str(), out_path.c_str(), &params) != 0) {
        throw trainer_error(TRAINER_ERR_IO, "Quantizing " + in_path + " to " + type + " failed (see the log above).");
    }
}
