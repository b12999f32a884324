#include "batch_pack.h"

#include <algorithm>

bool loss_mask_at(const token_sequence & seq, size_t i) { return seq.loss_mask.empty() || seq.loss_mask[i] != 0; }

size_t loss_target_count(const token_sequence & seq) {
    size_t n = 0;
    for (size_t i = 1; i < seq.tokens.size(); i++) n += loss_mask_at(seq, i) ? 1 : 0;
    return n;
}

namespace {

// Appends tokens [from, end) of seq as branch `branch`, with their targets.
void branch_append(packed_batch & batch, const token_sequence & seq, int32_t seq_index, size_t from, int32_t branch) {
    int32_t ordinal = 0;
    for (size_t t = 1; t <= from && t < seq.tokens.size(); t++) ordinal += loss_mask_at(seq, t) ? 1 : 0;
    for (size_t t = from; t < seq.tokens.size(); t++) {
        const int32_t row = (int32_t) batch.tokens.size();
        batch.tokens.push_back(seq.tokens[t]);
        batch.pos.push_back((int32_t) t);
        batch.branch.push_back(branch);
        if (t + 1 < seq.tokens.size() && loss_mask_at(seq, t + 1)) {
            batch.targets.push_back({row, seq.tokens[t + 1], 1, seq_index, ordinal++});
        }
    }
}

}  // namespace

packed_batch batch_pack_one(const token_sequence & seq) {
    packed_batch batch;
    branch_append(batch, seq, 0, 0, 0);
    return batch;
}

packed_batch batch_pack(const std::vector<const token_sequence *> & seqs) {
    if (seqs.size() == 1) return batch_pack_one(*seqs[0]);
    size_t common = seqs[0]->tokens.size();
    for (const token_sequence * s : seqs) {
        size_t n = 0;
        while (n < common && n < s->tokens.size() && s->tokens[n] == seqs[0]->tokens[n]) n++;
        common = n;
    }
    packed_batch batch;
    // The prefix ends before the last common token: the last prefix token's target is then that
    // common token in every sequence, and each branch starts with it.
    batch.shared = common > 0 ? common - 1 : 0;
    for (size_t t = 0; t < batch.shared; t++) {
        batch.tokens.push_back(seqs[0]->tokens[t]);
        batch.pos.push_back((int32_t) t);
        batch.branch.push_back(0);
        int32_t weight = 0;
        for (const token_sequence * s : seqs) weight += loss_mask_at(*s, t + 1) ? 1 : 0;
        if (weight > 0) batch.targets.push_back({(int32_t) t, seqs[0]->tokens[t + 1], weight, 0, 0});
    }
    for (size_t b = 0; b < seqs.size(); b++) branch_append(batch, *seqs[b], (int32_t) b, batch.shared, (int32_t) b + 1);
    std::stable_sort(batch.targets.begin(), batch.targets.end(), [](const packed_target & x, const packed_target & y) { return x.weight > y.weight; });
    return batch;
}
