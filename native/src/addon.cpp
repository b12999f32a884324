// The N-API surface of the trainer: C-like functions over an opaque handle. Every call checks
// the JavaScript values it gets, converts them to plain C++ structs on the JS thread, and runs
// the work on a libuv worker (Napi::AsyncWorker) that resolves a promise. Errors reject with an
// Error that carries a stable `code` (see trainer_error.h); nothing here aborts the process.
#include <napi.h>

#include <atomic>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "adapter_merge.h"
#include "adapter_read.h"
#include "backend_cpu.h"
#include "device.h"
#include "model_quantize.h"
#include "thread_class.h"
#include "trainer.h"
#include "trainer_error.h"

namespace {

// What the JS handle owns. The trainer itself is shared with the workers running on it, so
// trainerFree while a job runs only drops the handle's reference; the job finishes first.
struct trainer_handle {
    std::shared_ptr<trainer> tr;
    std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
};

// Tags our handles so that an External made by another addon is never mistaken for one.
const napi_type_tag TRAINER_HANDLE_TAG = {0x7f3a9c21d4e85b60ull, 0x1c2d3e4f5a6b7c8dull};

Napi::Error error_make(Napi::Env env, const std::string & code, const std::string & message) {
    Napi::Error error = Napi::Error::New(env, message);
    error.Value().Set("code", Napi::String::New(env, code));
    return error;
}

[[noreturn]] void throw_invalid(Napi::Env env, const std::string & message) {
    throw error_make(env, TRAINER_ERR_INVALID_INPUT, message);
}

// An AsyncWorker that keeps the trainer_error code and rejects a promise with it.
class promise_worker : public Napi::AsyncWorker {
public:
    explicit promise_worker(Napi::Env env) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}
    Napi::Promise promise() const { return deferred_.Promise(); }

protected:
    virtual void run() = 0;
    virtual Napi::Value result(Napi::Env env) = 0;

    void Execute() override {
        try {
            run();
        } catch (const trainer_error & e) {
            code_ = e.code;
            SetError(e.what());
        } catch (const std::bad_alloc &) {
            code_ = TRAINER_ERR_OUT_OF_MEMORY;
            SetError("Not enough memory.");
        } catch (const std::exception & e) {
            code_ = TRAINER_ERR_INTERNAL;
            SetError(e.what());
        }
    }
    void OnOK() override { settle(result(Env()), true); }
    void OnError(const Napi::Error & e) override { settle(error_make(Env(), code_, e.Message()).Value(), false); }

    // Resolves (or rejects) the promise with `value`, now. A worker that reports progress
    // through a thread-safe function overrides this to settle behind the reports it queued.
    virtual void settle(Napi::Value value, bool resolve) {
        if (resolve) deferred_.Resolve(value);
        else deferred_.Reject(value);
    }

    Napi::Promise::Deferred deferred_;

private:
    std::string code_ = TRAINER_ERR_INTERNAL;
};

// ---- argument conversion (JS thread) ----

std::string arg_string(const Napi::Value & v, const char * what) {
    if (!v.IsString()) throw_invalid(v.Env(), std::string(what) + " must be a string.");
    return v.As<Napi::String>().Utf8Value();
}

double arg_number(const Napi::Object & o, const char * key, double fallback) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() || v.IsNull()) return fallback;
    if (!v.IsNumber()) throw_invalid(o.Env(), std::string(key) + " must be a number.");
    return v.As<Napi::Number>().DoubleValue();
}

uint32_t arg_count(const Napi::Object & o, const char * key, uint32_t fallback) {
    const double d = arg_number(o, key, fallback);
    if (!(d >= 0 && d <= 4294967295.0) || d != (double) (uint64_t) d) throw_invalid(o.Env(), std::string(key) + " must be a non-negative integer.");
    return (uint32_t) d;
}

std::vector<int32_t> arg_tokens(const Napi::Value & v, const char * what) {
    std::vector<int32_t> out;
    if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
        Napi::Int32Array a = v.As<Napi::Int32Array>();
        out.assign(a.Data(), a.Data() + a.ElementLength());
    } else if (v.IsArray()) {
        Napi::Array a = v.As<Napi::Array>();
        out.reserve(a.Length());
        for (uint32_t i = 0; i < a.Length(); i++) {
            Napi::Value x = a.Get(i);
            const double d = x.IsNumber() ? x.As<Napi::Number>().DoubleValue() : -1.5;
            if (d != (double) (int64_t) d || d < INT32_MIN || d > INT32_MAX) throw_invalid(v.Env(), std::string(what) + "[" + std::to_string(i) + "] is not an integer.");
            out.push_back((int32_t) d);
        }
    } else {
        throw_invalid(v.Env(), std::string(what) + " must be an Int32Array or an array of integers.");
    }
    return out;
}

std::vector<token_sequence> arg_sequences(const Napi::Value & v) {
    if (!v.IsArray()) throw_invalid(v.Env(), "sequences must be an array.");
    Napi::Array a = v.As<Napi::Array>();
    std::vector<token_sequence> out(a.Length());
    for (uint32_t i = 0; i < a.Length(); i++) {
        Napi::Value item = a.Get(i);
        if (!item.IsObject()) throw_invalid(v.Env(), "sequences[" + std::to_string(i) + "] must be an object.");
        Napi::Object o = item.As<Napi::Object>();
        out[i].tokens = arg_tokens(o.Get("tokens"), "tokens");
        Napi::Value mask = o.Get("lossMask");
        if (!mask.IsUndefined() && !mask.IsNull()) {
            for (int32_t m : arg_tokens(mask, "lossMask")) {
                if (m != 0 && m != 1) throw_invalid(v.Env(), "lossMask values must be 0 or 1.");
                out[i].loss_mask.push_back((uint8_t) m);
            }
        }
        Napi::Value teacher = o.Get("teacher");
        if (!teacher.IsUndefined() && !teacher.IsNull()) {
            if (!teacher.IsObject()) throw_invalid(v.Env(), "sequences[" + std::to_string(i) + "].teacher must be an object.");
            Napi::Object t = teacher.As<Napi::Object>();
            out[i].soft_k = arg_count(t, "k", 0);
            out[i].soft_ids = arg_tokens(t.Get("ids"), "teacher.ids");
            Napi::Value probs = t.Get("probs");
            if (!probs.IsTypedArray() || probs.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) throw_invalid(v.Env(), "teacher.probs must be a Float32Array.");
            Napi::Float32Array pa = probs.As<Napi::Float32Array>();
            out[i].soft_probs.assign(pa.Data(), pa.Data() + pa.ElementLength());
        }
    }
    return out;
}

std::vector<adapter_spec> arg_adapters(const Napi::Value & v) {
    std::vector<adapter_spec> out;
    if (v.IsUndefined() || v.IsNull()) return out;
    if (!v.IsArray()) throw_invalid(v.Env(), "adapters must be an array.");
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
        Napi::Value item = a.Get(i);
        if (!item.IsObject()) throw_invalid(v.Env(), "adapters[" + std::to_string(i) + "] must be an object.");
        Napi::Object o = item.As<Napi::Object>();
        adapter_spec spec;
        spec.path = arg_string(o.Get("path"), "adapter path");
        spec.scale = (float) arg_number(o, "scale", 1.0);
        out.push_back(spec);
    }
    return out;
}

trainer_handle * arg_handle(const Napi::Value & v) {
    if (!v.IsExternal() || !v.As<Napi::External<trainer_handle>>().CheckTypeTag(&TRAINER_HANDLE_TAG)) throw_invalid(v.Env(), "Not a trainer handle.");
    trainer_handle * h = v.As<Napi::External<trainer_handle>>().Data();
    if (!h->tr) throw error_make(v.Env(), TRAINER_ERR_INVALID_INPUT, "The trainer was disposed.");
    return h;
}

Napi::Object device_object(Napi::Env env, const device_info & d) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", d.name);
    o.Set("description", d.description);
    o.Set("type", d.type);
    o.Set("memoryFree", (double) d.memory_free);
    o.Set("memoryTotal", (double) d.memory_total);
    return o;
}

std::vector<std::string> arg_strings(const Napi::Value & v, const char * name) {
    std::vector<std::string> out;
    if (v.IsUndefined()) return out;
    if (!v.IsArray()) throw_invalid(v.Env(), std::string(name) + " must be an array of strings.");
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) out.push_back(arg_string(a.Get(i), name));
    return out;
}

// ---- workers ----

class create_worker : public promise_worker {
public:
    create_worker(Napi::Env env, std::string path, trainer_params params) : promise_worker(env), path_(std::move(path)), params_(std::move(params)) {}
protected:
    void run() override { tr_.reset(trainer_create(path_, params_), trainer_free); }
    Napi::Value result(Napi::Env env) override {
        auto * h = new trainer_handle();
        h->tr = tr_;
        Napi::External<trainer_handle> handle = Napi::External<trainer_handle>::New(env, h, [](Napi::Env, trainer_handle * p) { delete p; });
        handle.TypeTag(&TRAINER_HANDLE_TAG);
        return handle;
    }
private:
    std::string path_;
    trainer_params params_;
    std::shared_ptr<trainer> tr_;
};

// Lists the compute devices after loading the CPU backends of bins_dir and the GPU backends.
class devices_worker : public promise_worker {
public:
    devices_worker(Napi::Env env, std::string bins_dir, std::vector<std::string> gpu_backends)
        : promise_worker(env), bins_dir_(std::move(bins_dir)), gpu_backends_(std::move(gpu_backends)) {}
protected:
    void run() override {
        ggml_backend_free(backend_cpu_init(bins_dir_, 1));
        failures_ = device_backends_load(gpu_backends_);
        devices_ = device_list();
    }
    Napi::Value result(Napi::Env env) override {
        Napi::Object o = Napi::Object::New(env);
        Napi::Array devices = Napi::Array::New(env, devices_.size());
        for (size_t i = 0; i < devices_.size(); i++) devices.Set((uint32_t) i, device_object(env, devices_[i]));
        Napi::Array failures = Napi::Array::New(env, failures_.size());
        for (size_t i = 0; i < failures_.size(); i++) failures.Set((uint32_t) i, failures_[i]);
        o.Set("devices", devices);
        o.Set("failures", failures);
        return o;
    }
private:
    std::string bins_dir_;
    std::vector<std::string> gpu_backends_;
    std::vector<std::string> failures_;
    std::vector<device_info> devices_;
};

struct progress_data { int32_t step; int32_t total; float loss; };
struct settle_data { Napi::Promise::Deferred deferred; Napi::ObjectReference value; bool resolve; };

class train_worker : public promise_worker {
public:
    train_worker(Napi::Env env, std::shared_ptr<trainer> tr, std::shared_ptr<std::atomic<bool>> cancel,
                 std::vector<token_sequence> seqs, train_params params, Napi::Function on_progress)
        : promise_worker(env), tr_(std::move(tr)), cancel_(std::move(cancel)), seqs_(std::move(seqs)), params_(std::move(params)) {
        if (!on_progress.IsEmpty()) {
            tsfn_ = Napi::ThreadSafeFunction::New(env, on_progress, "trainer-progress", 0, 1);
            has_tsfn_ = true;
        }
    }
    ~train_worker() override {
        if (has_tsfn_) tsfn_.Release();
    }
protected:
    // The step reports travel through tsfn_ and the result through the worker's completion,
    // two queues whose relative order node does not promise (a loaded CI run once saw none of a
    // training's reports before its result, which the encoder then dropped). Settling through
    // tsfn_ too, whose calls run in order, puts the result after every report already queued.
    void settle(Napi::Value value, bool resolve) override {
        if (!has_tsfn_ || !value.IsObject()) return promise_worker::settle(value, resolve);
        auto * data = new settle_data{deferred_, Napi::Persistent(value.As<Napi::Object>()), resolve};
        const napi_status queued = tsfn_.NonBlockingCall(data, [](Napi::Env env, Napi::Function, settle_data * d) {
            if (env != nullptr) {  // null: node is shutting down and nothing waits for the promise
                if (d->resolve) d->deferred.Resolve(d->value.Value());
                else d->deferred.Reject(d->value.Value());
            }
            delete d;
        });
        if (queued != napi_ok) {
            delete data;
            promise_worker::settle(value, resolve);
        }
    }

    void run() override {
        train_progress_fn progress;
        if (has_tsfn_) {
            progress = [this](int32_t step, int32_t total, float loss) {
                auto * data = new progress_data{step, total, loss};
                // Blocking would stall training on a busy JS thread; a dropped update is harmless.
                if (tsfn_.NonBlockingCall(data, [](Napi::Env env, Napi::Function fn, progress_data * d) {
                        Napi::Object p = Napi::Object::New(env);
                        p.Set("step", d->step);
                        p.Set("totalSteps", d->total);
                        p.Set("loss", d->loss);
                        delete d;
                        fn.Call({p});
                    }) != napi_ok) {
                    delete data;
                }
            };
        }
        result_ = trainer_train(*tr_, seqs_, params_, progress, *cancel_);
    }
    Napi::Value result(Napi::Env env) override {
        Napi::Object o = Napi::Object::New(env);
        Napi::Float64Array losses = Napi::Float64Array::New(env, result_.losses.size());
        for (size_t i = 0; i < result_.losses.size(); i++) losses[i] = result_.losses[i];
        o.Set("losses", losses);
        o.Set("steps", result_.steps);
        o.Set("splits", result_.splits);
        Napi::Array ops = Napi::Array::New(env, result_.graph_ops.size());
        for (size_t i = 0; i < result_.graph_ops.size(); i++) ops.Set((uint32_t) i, result_.graph_ops[i]);
        o.Set("graphOps", ops);
        o.Set("forwardCopies", result_.forward_copies);
        return o;
    }
private:
    std::shared_ptr<trainer> tr_;
    std::shared_ptr<std::atomic<bool>> cancel_;
    std::vector<token_sequence> seqs_;
    train_params params_;
    Napi::ThreadSafeFunction tsfn_;
    bool has_tsfn_ = false;
    train_result result_;
};

class logits_worker : public promise_worker {
public:
    logits_worker(Napi::Env env, std::shared_ptr<trainer> tr, std::vector<int32_t> tokens, std::vector<adapter_spec> adapters)
        : promise_worker(env), tr_(std::move(tr)), tokens_(std::move(tokens)), adapters_(std::move(adapters)) {}
protected:
    void run() override { logits_ = trainer_logits(*tr_, tokens_, adapters_); }
    Napi::Value result(Napi::Env env) override {
        Napi::Float32Array out = Napi::Float32Array::New(env, logits_.size());
        std::copy(logits_.begin(), logits_.end(), out.Data());
        return out;
    }
private:
    std::shared_ptr<trainer> tr_;
    std::vector<int32_t> tokens_;
    std::vector<adapter_spec> adapters_;
    std::vector<float> logits_;
};

class loss_worker : public promise_worker {
public:
    loss_worker(Napi::Env env, std::shared_ptr<trainer> tr, std::vector<token_sequence> seqs, std::vector<adapter_spec> adapters)
        : promise_worker(env), tr_(std::move(tr)), seqs_(std::move(seqs)), adapters_(std::move(adapters)) {}
protected:
    void run() override { loss_ = trainer_loss(*tr_, seqs_, adapters_); }
    Napi::Value result(Napi::Env env) override { return Napi::Number::New(env, loss_); }
private:
    std::shared_ptr<trainer> tr_;
    std::vector<token_sequence> seqs_;
    std::vector<adapter_spec> adapters_;
    double loss_ = 0.0;
};

class quantize_worker : public promise_worker {
public:
    quantize_worker(Napi::Env env, std::string in, std::string out, std::string type, int32_t threads)
        : promise_worker(env), in_(std::move(in)), out_(std::move(out)), type_(std::move(type)), threads_(threads) {}
protected:
    void run() override { model_quantize(in_, out_, type_, threads_); }
    Napi::Value result(Napi::Env env) override { return env.Undefined(); }
private:
    std::string in_, out_, type_;
    int32_t threads_;
};

class merge_worker : public promise_worker {
public:
    merge_worker(Napi::Env env, std::vector<adapter_spec> inputs, std::string out, adapter_out_type type)
        : promise_worker(env), inputs_(std::move(inputs)), out_(std::move(out)), type_(type) {}
protected:
    void run() override { adapter_merge(inputs_, out_, type_); }
    Napi::Value result(Napi::Env env) override { return env.Undefined(); }
private:
    std::vector<adapter_spec> inputs_;
    std::string out_;
    adapter_out_type type_;
};

class layout_worker : public promise_worker {
public:
    layout_worker(Napi::Env env, std::string path) : promise_worker(env), path_(std::move(path)) {}
protected:
    void run() override { compact_ = adapter_file_is_compact(path_); }
    Napi::Value result(Napi::Env env) override { return Napi::String::New(env, compact_ ? "compact" : "llama"); }
private:
    std::string path_;
    bool compact_ = false;
};

// ---- exported functions ----

// trainerCreate(modelPath, {threads, binsDir, backwardWeights?, device?, gpuBackends?}) -> Promise<handle>
Napi::Value trainer_create_js(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    const std::string path = arg_string(info[0], "modelPath");
    trainer_params params;
    if (info[1].IsObject()) {
        Napi::Object o = info[1].As<Napi::Object>();
        params.n_threads = (int32_t) arg_count(o, "threads", 0);
        Napi::Value backward = o.Get("backwardWeights");
        if (!backward.IsUndefined()) {
            const std::string type = arg_string(backward, "backwardWeights");
            if (type == "q8_0") params.backward_type = GGML_TYPE_Q8_0;
            else if (type == "q4_0") params.backward_type = GGML_TYPE_Q4_0;
            else throw_invalid(env, "backwardWeights must be 'q8_0' or 'q4_0'.");
        }
        Napi::Value bins = o.Get("binsDir");
        if (!bins.IsUndefined()) params.bins_dir = arg_string(bins, "binsDir");
        Napi::Value device = o.Get("device");
        if (!device.IsUndefined()) params.device = arg_string(device, "device");
        params.gpu_backends = arg_strings(o.Get("gpuBackends"), "gpuBackends");
    }
    auto * worker = new create_worker(env, path, params);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
}

// trainerFree(handle): releases the model once no job runs on it (a paused job is resumed, so
// that it can finish).
Napi::Value trainer_free_js(const Napi::CallbackInfo & info) {
    if (info[0].IsExternal() && info[0].As<Napi::External<trainer_handle>>().CheckTypeTag(&TRAINER_HANDLE_TAG)) {
        std::shared_ptr<trainer> & tr = info[0].As<Napi::External<trainer_handle>>().Data()->tr;
        if (tr) trainer_set_paused(*tr, false);
        tr.reset();
    }
    return info.Env().Undefined();
}

// trainerInfo(handle) -> {architecture, nVocab, nEmbd, nLayer, nHead, nHeadKv, nFf, nCtxTrain}
Napi::Value trainer_info_js(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    trainer_handle * h = arg_handle(info[0]);
    const base_model & m = *h->tr->model;
    Napi::Object o = Napi::Object::New(env);
    o.Set("architecture", m.arch_name);
    o.Set("nVocab", m.hp.n_vocab);
    o.Set("nEmbd", m.hp.n_embd);
    o.Set("nLayer", m.hp.n_layer);
    o.Set("nHead", m.hp.n_head);
    o.Set("nHeadKv", m.hp.n_head_kv);
    o.Set("nFf", m.hp.n_ff);
    o.Set("nCtxTrain", m.hp.n_ctx_train);
    o.Set("device", device_object(env, trainer_device(*h->tr)));
    return o;
}

// devicesList(binsDir, gpuBackends) -> Promise<{devices: [{name, description, type, memoryFree, memoryTotal}], failures: string[]}>
Napi::Value devices_list_js(const Napi::CallbackInfo & info) {
    auto * worker = new devices_worker(info.Env(), arg_string(info[0], "binsDir"), arg_strings(info[1], "gpuBackends"));
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
}

// trainerTrain(handle, params, onProgress?) -> Promise<{losses: Float64Array, steps}>
Napi::Value trainer_train_js(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    trainer_handle * h = arg_handle(info[0]);
    if (!info[1].IsObject()) throw_invalid(env, "Training parameters must be an object.");
    Napi::Object o = info[1].As<Napi::Object>();
    std::vector<token_sequence> seqs = arg_sequences(o.Get("sequences"));
    train_params p;
    Napi::Value targets = o.Get("targets");
    if (!targets.IsUndefined()) {
        if (!targets.IsArray()) throw_invalid(env, "targets must be an array of strings.");
        Napi::Array a = targets.As<Napi::Array>();
        p.targets.clear();
        for (uint32_t i = 0; i < a.Length(); i++) p.targets.push_back(arg_string(a.Get(i), "targets[i]"));
    }
    p.rank = arg_count(o, "rank", p.rank);
    p.first_layer = arg_count(o, "firstLayer", p.first_layer);
    p.alpha = (float) arg_number(o, "alpha", p.alpha);
    p.lr = (float) arg_number(o, "lr", p.lr);
    p.beta1 = (float) arg_number(o, "beta1", p.beta1);
    p.beta2 = (float) arg_number(o, "beta2", p.beta2);
    p.eps = (float) arg_number(o, "eps", p.eps);
    p.weight_decay = (float) arg_number(o, "weightDecay", p.weight_decay);
    p.epochs = arg_count(o, "epochs", p.epochs);
    p.batch_size = arg_count(o, "batchSize", p.batch_size);
    p.grad_accum = arg_count(o, "gradAccumulation", p.grad_accum);
    p.seed = arg_count(o, "seed", 0);
    Napi::Value shuffle = o.Get("shuffle");
    if (!shuffle.IsUndefined()) p.shuffle = shuffle.ToBoolean().Value();
    p.distill_weight = (float) arg_number(o, "distillWeight", p.distill_weight);
    Napi::Value exact = o.Get("exactBackward");
    if (!exact.IsUndefined()) p.exact_backward = exact.ToBoolean().Value();
    Napi::Value portable = o.Get("portableBackward");
    if (!portable.IsUndefined()) p.portable_backward = portable.ToBoolean().Value();
    Napi::Value init = o.Get("init");
    if (!init.IsUndefined() && !init.IsNull()) p.init_path = arg_string(init, "init");
    p.out_path = arg_string(o.Get("outPath"), "outPath");
    Napi::Value out_type = o.Get("outType");
    if (!out_type.IsUndefined()) {
        const std::string t = arg_string(out_type, "outType");
        if (!adapter_out_type_parse(t, p.out_type)) throw_invalid(env, "outType must be 'f32', 'f16', 'q8_0', 'q4_k' or 'q3_k'.");
    }
    Napi::Function on_progress;
    if (info[2].IsFunction()) on_progress = info[2].As<Napi::Function>();
    h->cancel->store(false);
    auto * worker = new train_worker(env, h->tr, h->cancel, std::move(seqs), std::move(p), on_progress);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
}

// trainerSetThreads(handle, n): the CPU threads of every graph computed from now on, those of a
// running training included (read before each sequence's graph).
Napi::Value trainer_set_threads_js(const Napi::CallbackInfo & info) {
    trainer_handle * h = arg_handle(info[0]);
    if (!info[1].IsNumber()) throw_invalid(info.Env(), "threads must be a number.");
    const double n = info[1].As<Napi::Number>().DoubleValue();
    if (!(n >= 1 && n <= 1024 && n == (double) (int32_t) n)) throw_invalid(info.Env(), "threads must be an integer from 1 to 1024.");
    trainer_set_threads(*h->tr, (int32_t) n);
    return info.Env().Undefined();
}

// trainerSetPaused(handle, paused): a running training waits while paused (trainer.h says
// where), and goes on when resumed.
Napi::Value trainer_set_paused_js(const Napi::CallbackInfo & info) {
    trainer_handle * h = arg_handle(info[0]);
    if (!info[1].IsBoolean()) throw_invalid(info.Env(), "paused must be a boolean.");
    trainer_set_paused(*h->tr, info[1].As<Napi::Boolean>().Value());
    return info.Env().Undefined();
}

// trainerCancel(handle): the running training stops before its next sequence.
Napi::Value trainer_cancel_js(const Napi::CallbackInfo & info) {
    if (info[0].IsExternal() && info[0].As<Napi::External<trainer_handle>>().CheckTypeTag(&TRAINER_HANDLE_TAG)) {
        info[0].As<Napi::External<trainer_handle>>().Data()->cancel->store(true);
    }
    return info.Env().Undefined();
}

// trainerLogits(handle, tokens, adapters?) -> Promise<Float32Array n_tokens x n_vocab>
Napi::Value trainer_logits_js(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    trainer_handle * h = arg_handle(info[0]);
    auto * worker = new logits_worker(env, h->tr, arg_tokens(info[1], "tokens"), arg_adapters(info[2]));
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
}

// trainerLoss(handle, sequences, adapters?) -> Promise<number>
Napi::Value trainer_loss_js(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    trainer_handle * h = arg_handle(info[0]);
    auto * worker = new loss_worker(env, h->tr, arg_sequences(info[1]), arg_adapters(info[2]));
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
}

// modelQuantize(inPath, outPath, type, threads) -> Promise<void>
Napi::Value model_quantize_js(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    const std::string in = arg_string(info[0], "inPath");
    const std::string out = arg_string(info[1], "outPath");
    const std::string type = arg_string(info[2], "type");
    const int32_t threads = info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : 0;
    auto * worker = new quantize_worker(env, in, out, type, threads);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
}

// adapterMerge([{path, scale}], outPath, outType) -> Promise<void>; needs no loaded model.
Napi::Value adapter_merge_js(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    std::vector<adapter_spec> inputs = arg_adapters(info[0]);
    const std::string out = arg_string(info[1], "outPath");
    adapter_out_type type = ADAPTER_OUT_F32;
    if (!adapter_out_type_parse(arg_string(info[2], "outType"), type)) throw_invalid(env, "outType must be 'f32', 'f16', 'q8_0', 'q4_k' or 'q3_k'.");
    auto * worker = new merge_worker(env, std::move(inputs), out, type);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
}

// adapterLayout(path) -> Promise<'llama' | 'compact'>: reads the file's header only.
Napi::Value adapter_layout_js(const Napi::CallbackInfo & info) {
    auto * worker = new layout_worker(info.Env(), arg_string(info[0], "path"));
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
}

// threadSetIdleClass(tid) -> boolean: see thread_class.h.
Napi::Value thread_set_idle_class_js(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber()) throw_invalid(env, "tid must be a number.");
    return Napi::Boolean::New(env, thread_set_idle_class(info[0].As<Napi::Number>().Int64Value()));
}

Napi::Object addon_init(Napi::Env env, Napi::Object exports) {
    exports.Set("trainerCreate", Napi::Function::New(env, trainer_create_js));
    exports.Set("trainerFree", Napi::Function::New(env, trainer_free_js));
    exports.Set("trainerInfo", Napi::Function::New(env, trainer_info_js));
    exports.Set("trainerTrain", Napi::Function::New(env, trainer_train_js));
    exports.Set("trainerCancel", Napi::Function::New(env, trainer_cancel_js));
    exports.Set("trainerSetThreads", Napi::Function::New(env, trainer_set_threads_js));
    exports.Set("trainerSetPaused", Napi::Function::New(env, trainer_set_paused_js));
    exports.Set("trainerLogits", Napi::Function::New(env, trainer_logits_js));
    exports.Set("trainerLoss", Napi::Function::New(env, trainer_loss_js));
    exports.Set("devicesList", Napi::Function::New(env, devices_list_js));
    exports.Set("modelQuantize", Napi::Function::New(env, model_quantize_js));
    exports.Set("adapterMerge", Napi::Function::New(env, adapter_merge_js));
    exports.Set("adapterLayout", Napi::Function::New(env, adapter_layout_js));
    exports.Set("threadSetIdleClass", Napi::Function::New(env, thread_set_idle_class_js));
    return exports;
}

}  // namespace

NODE_API_MODULE(paramkb_trainer, addon_init)
