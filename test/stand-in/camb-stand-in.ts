// Transitional: the stand-in's old module path, kept only because test/engine's tests (owned by
// another change in flight) still import '../stand-in/camb-stand-in'. Delete this file once they
// import '../stand-in/cambStandIn'.
export * from './cambStandIn';
