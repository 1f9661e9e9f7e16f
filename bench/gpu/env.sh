# Source on the GPU machine after the runtime bundle is unpacked in /tmp/gpurt (../shared/tools/gpu-pack.sh):
# node on PATH, PyTorch's CUDA libraries for ORT's CUDA provider, node_modules resolving onnxruntime-node.
export PATH=/tmp/gpurt:$PATH
nv=$(python3 -c "import nvidia, os; print(os.path.dirname(nvidia.__path__[0]))")/nvidia
export LD_LIBRARY_PATH=$(ls -d "$nv"/*/lib | tr '\n' ':')${LD_LIBRARY_PATH:-}
[ -e node_modules ] || ln -s /tmp/gpurt/node_modules node_modules
export WAVEFILTER_REPO=$PWD
