// The engine version stamped into every saved model, so a loader can refuse a model from an incompatible engine.
// Bump the major part whenever a saved model could be read differently by the new code.
export const ENGINE_VERSION = '0.1.0';
