// Why merge: llama.cpp adds two small matrix products, a scale and an add per adapted weight
// and per adapter. With k adapters on three FFN weights of every layer, decoding one token runs
// hundreds of tiny ops, each ending in a thread barrier; one merged adapter of rank k*r runs
// the same arithmetic in a quarter of the ops per adapter.
#include "adapter_merge.h"

#include <cstring>
#include <map>
#include <memory>

#include "adapter_read.h"
#include "trainer_error.h"

namespace {

// One input's part of one adapted weight.
struct weight_part {
    int64_t in = 0, out = 0, rank = 0;
    std::vector<float> a;  // [in, rank]
    std::vector<float> b;  // [rank, out]
    float scale = 1.0f;    // applied to b
};

}  // namespace

void adapter_merge(const std::vector<adapter_spec> & inputs, const std::string & out_path, adapter_out_type out_type) {
    if (inputs.empty()) throw trainer_error(TRAINER_ERR_INVALID_INPUT, "No adapters to merge.");
    const bool conversion = inputs.size() == 1 && inputs[0].scale == 1.0f;
    std::string arch;
    float kept_alpha = 0.0f;
    // Sorted by weight name, so the output's tensor order does not depend on the inputs' order.
    std::map<std::string, std::vector<weight_part>> weights;

    for (const adapter_spec & input : inputs) {
        adapter_file file;
        adapter_file_read(input.path, file);
        if (arch.empty()) arch = file.arch;
        else if (file.arch != arch) throw trainer_error(TRAINER_ERR_INVALID_INPUT, input.path + " is for a " + file.arch + " model, the others for " + arch + ".");
        kept_alpha = file.alpha;
        for (const auto & [name, w] : file.weights) {
            weight_part part;
            part.in = w.in;
            part.out = w.out;
            part.rank = w.rank;
            part.a = adapter_file_a_values(w);
            part.b = adapter_file_b_values(w);
            part.scale = conversion ? 1.0f : (file.alpha != 0.0f ? input.scale * file.alpha / (float) part.rank : input.scale);
            std::vector<weight_part> & parts = weights[name];
            if (!parts.empty() && (parts[0].in != part.in || parts[0].out != part.out)) {
                throw trainer_error(TRAINER_ERR_INVALID_INPUT, input.path + " does not fit the other adapters (shape of " + name + ").");
            }
            parts.push_back(std::move(part));
        }
    }

    // Stack each weight's parts: A_i as consecutive rank rows of A; per output row of B, the
    // parts' rank columns side by side, scaled.
    std::vector<std::vector<float>> storage;
    std::vector<adapter_tensor_values> tensors;
    storage.reserve(weights.size() * 2);
    for (const auto & [name, parts] : weights) {
        int64_t rank = 0;
        for (const weight_part & p : parts) rank += p.rank;
        const int64_t in = parts[0].in, out = parts[0].out;
        std::vector<float> & a = storage.emplace_back();
        a.reserve(in * rank);
        for (const weight_part & p : parts) a.insert(a.end(), p.a.begin(), p.a.end());
        std::vector<float> & b = storage.emplace_back(rank * out);
        int64_t offset = 0;
        for (const weight_part & p : parts) {
            for (int64_t o = 0; o < out; o++) {
                for (int64_t j = 0; j < p.rank; j++) b[o * rank + offset + j] = p.b[o * p.rank + j] * p.scale;
            }
            offset += p.rank;
        }
        tensors.push_back({name + ".lora_a", in, rank, a.data(), true});
        tensors.push_back({name + ".lora_b", rank, out, b.data(), false});
    }
    adapter_file_write(arch, conversion ? kept_alpha : 0.0f, tensors, out_path, out_type);
}
