// @peculiar/x509 pulls in tsyringe, which refuses to load unless the Reflect
// metadata API exists, though x509 itself never stores metadata through it.
// These three functions are all tsyringe calls; defining them here spares a
// polyfill dependency. A real polyfill loaded earlier is left in place.
type MetadataApi = {
  getOwnMetadata?: (key: unknown, target: object) => unknown;
  getMetadata?: (key: unknown, target: object) => unknown;
  defineMetadata?: (key: unknown, value: unknown, target: object) => void;
};

const api = Reflect as typeof Reflect & MetadataApi;
if (typeof api.getMetadata !== 'function') {
  const store = new WeakMap<object, Map<unknown, unknown>>();
  api.getOwnMetadata = (key, target) => store.get(target)?.get(key);
  api.getMetadata = (key, target) => {
    for (let o: object | null = target; o !== null; o = Object.getPrototypeOf(o) as object | null) {
      const value = store.get(o)?.get(key);
      if (value !== undefined) return value;
    }
    return undefined;
  };
  api.defineMetadata = (key, value, target) => {
    let map = store.get(target);
    if (!map) store.set(target, (map = new Map()));
    map.set(key, value);
  };
}
