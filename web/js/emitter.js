// A minimal event emitter shared by the state modules; `on` returns its own unsubscribe.
export function createEmitter() {
  const handlers = new Map();
  return {
    on(event, fn) {
      if (!handlers.has(event)) handlers.set(event, new Set());
      handlers.get(event).add(fn);
      return () => handlers.get(event).delete(fn);
    },
    emit(event, ...args) {
      for (const fn of [...(handlers.get(event) || [])]) fn(...args);
    },
  };
}
