{
  "targets": [
    {
      "target_name": "graft_mpi",
      "sources": ["mpi.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "<!@(node ../scripts/mpi-flags.mjs include)"],
      "cflags_cc": ["<!@(node ../scripts/mpi-flags.mjs cflags)"],
      "libraries": ["<!@(node ../scripts/mpi-flags.mjs libs)"],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NAPI_VERSION=8", "OMPI_SKIP_MPICXX=1"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"]
    }
  ]
}
