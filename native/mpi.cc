// Graft's MPI binding (node-addon-api): the collectives data-parallel training needs, on
// typed arrays (which may view the runtime's shared WebAssembly memory). Only the main thread
// calls MPI (MPI_THREAD_FUNNELED); worker threads never do.
//
// allreduceOrdered gathers every rank's buffer (MPI_Allgather) and sums them in rank order
// on each rank, so every rank gets the same float32 bits, whatever MPI's reduction tree: the
// determinism Graft promises for a fixed number of ranks. allreduce is MPI's own in-place sum.
#define OMPI_SKIP_MPICXX 1
#include <mpi.h>
#include <napi.h>

#include <string>
#include <utility>
#include <vector>

namespace {

std::vector<MPI_Comm> comms;  // 0: MPI_COMM_WORLD; then communicators made by split

MPI_Comm CommOf(const Napi::Env& env, const Napi::Value& v) {
  uint32_t i = v.IsUndefined() ? 0 : v.As<Napi::Number>().Uint32Value();
  if (i >= comms.size()) {
    Napi::RangeError::New(env, "graft mpi: no such communicator").ThrowAsJavaScriptException();
    return MPI_COMM_NULL;
  }
  return comms[i];
}

void Check(const Napi::Env& env, int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  Napi::Error::New(env, std::string("graft mpi: ") + what + " failed: " + std::string(msg, len)).ThrowAsJavaScriptException();
}

Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) {
    int provided = 0;
    Check(env, MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  }
  if (comms.empty()) comms.push_back(MPI_COMM_WORLD);
  return env.Undefined();
}

Napi::Value Finalize(const Napi::CallbackInfo& info) {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
  return info.Env().Undefined();
}

Napi::Value Rank(const Napi::CallbackInfo& info) {
  int r = 0;
  MPI_Comm c = CommOf(info.Env(), info[0]);
  Check(info.Env(), MPI_Comm_rank(c, &r), "MPI_Comm_rank");
  return Napi::Number::New(info.Env(), r);
}

Napi::Value Size(const Napi::CallbackInfo& info) {
  int s = 0;
  MPI_Comm c = CommOf(info.Env(), info[0]);
  Check(info.Env(), MPI_Comm_size(c, &s), "MPI_Comm_size");
  return Napi::Number::New(info.Env(), s);
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  Check(info.Env(), MPI_Barrier(CommOf(info.Env(), info[0])), "MPI_Barrier");
  return info.Env().Undefined();
}

// Bytes of any typed array (its view of an ArrayBuffer or SharedArrayBuffer).
void* BytesOf(const Napi::Value& v, size_t* n) {
  Napi::TypedArray t = v.As<Napi::TypedArray>();
  *n = t.ByteLength();
  uint8_t* base = static_cast<uint8_t*>(t.ArrayBuffer().Data());
  return base + t.ByteOffset();
}

// broadcast(typedArray, root, comm?)
Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  size_t n = 0;
  void* p = BytesOf(info[0], &n);
  int root = info[1].As<Napi::Number>().Int32Value();
  Check(info.Env(), MPI_Bcast(p, static_cast<int>(n), MPI_BYTE, root, CommOf(info.Env(), info[2])), "MPI_Bcast");
  return info.Env().Undefined();
}

// allreduce(float32Array, comm?): MPI's in-place sum.
Napi::Value Allreduce(const Napi::CallbackInfo& info) {
  Napi::Float32Array a = info[0].As<Napi::Float32Array>();
  Check(info.Env(), MPI_Allreduce(MPI_IN_PLACE, a.Data(), static_cast<int>(a.ElementLength()), MPI_FLOAT, MPI_SUM, CommOf(info.Env(), info[1])), "MPI_Allreduce");
  return info.Env().Undefined();
}

// allreduceOrdered(float32Array, comm?): in place, the sum over ranks 0, 1, … in that order.
Napi::Value AllreduceOrdered(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array a = info[0].As<Napi::Float32Array>();
  MPI_Comm c = CommOf(env, info[1]);
  int size = 0;
  MPI_Comm_size(c, &size);
  const size_t n = a.ElementLength();
  std::vector<float> all(n * static_cast<size_t>(size));
  Check(env, MPI_Allgather(a.Data(), static_cast<int>(n), MPI_FLOAT, all.data(), static_cast<int>(n), MPI_FLOAT, c), "MPI_Allgather");
  float* out = a.Data();
  for (size_t i = 0; i < n; i++) {
    float s = all[i];
    for (int r = 1; r < size; r++) s += all[static_cast<size_t>(r) * n + i];
    out[i] = s;
  }
  return env.Undefined();
}

// splitShared(): the ranks on this host (MPI_COMM_TYPE_SHARED); split(color, key): any grouping.
Napi::Value SplitShared(const Napi::CallbackInfo& info) {
  MPI_Comm out;
  Check(info.Env(), MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &out), "MPI_Comm_split_type");
  comms.push_back(out);
  return Napi::Number::New(info.Env(), static_cast<double>(comms.size() - 1));
}

Napi::Value Split(const Napi::CallbackInfo& info) {
  MPI_Comm out;
  int color = info[0].As<Napi::Number>().Int32Value(), key = info[1].As<Napi::Number>().Int32Value();
  Check(info.Env(), MPI_Comm_split(MPI_COMM_WORLD, color, key, &out), "MPI_Comm_split");
  comms.push_back(out);
  return Napi::Number::New(info.Env(), static_cast<double>(comms.size() - 1));
}

Napi::Value ProcessorName(const Napi::CallbackInfo& info) {
  char name[MPI_MAX_PROCESSOR_NAME];
  int len = 0;
  MPI_Get_processor_name(name, &len);
  return Napi::String::New(info.Env(), name, len);
}

// abort(code): ends every rank of the job (a rank that failed stops the others).
Napi::Value Abort(const Napi::CallbackInfo& info) {
  MPI_Abort(MPI_COMM_WORLD, info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Object Module(Napi::Env env, Napi::Object exports) {
  using Fn = Napi::Value (*)(const Napi::CallbackInfo&);
  const std::pair<const char*, Fn> functions[] = {
    {"init", Init}, {"finalize", Finalize}, {"rank", Rank}, {"size", Size}, {"barrier", Barrier}, {"broadcast", Broadcast},
    {"allreduce", Allreduce}, {"allreduceOrdered", AllreduceOrdered}, {"splitShared", SplitShared}, {"split", Split},
    {"processorName", ProcessorName}, {"abort", Abort},
  };
  for (const auto& [name, fn] : functions) exports.Set(name, Napi::Function::New(env, fn, name));
  return exports;
}

}  // namespace

NODE_API_MODULE(graft_mpi, Module)
