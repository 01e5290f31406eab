// Stands in for modules gitdock never uses but its Docker client requires at
// load time: ssh2 (DOCKER_HOST=ssh://, which gitdock refuses with a clear
// message before any connection), gRPC and protobufjs (BuildKit sessions of image
// builds). Loading them costs a CLI run about 0.15 s. Every export is a
// function that fails loudly when called or constructed.
function unsupported(name) {
  return function unsupportedExport() {
    throw new Error(`gitdock is built without ssh2 and gRPC: "${name}" is not available`);
  };
}
module.exports = new Proxy(
  {},
  {
    get(_target, property) {
      if (property === '__esModule' || typeof property === 'symbol') return undefined;
      return unsupported(String(property));
    },
  },
);
