// Attachments not yet uploaded, kept in IndexedDB with their bytes (localStorage holds only
// strings, and too few of them for photos), so a reload or a closed tab loses none of them, as the
// outbox keeps typed text. Where IndexedDB is missing or refused (some private modes), they live in
// memory for the page's lifetime instead.
const DB_NAME = 'clavox-uploads';
const STORE = 'uploads';

let opening = null;
const memory = new Map(); // clientId → record, when there is no database

function open() {
  if (!opening) {
    opening = new Promise((resolve) => {
      let request;
      try {
        request = indexedDB.open(DB_NAME, 1);
      } catch {
        resolve(null);
        return;
      }
      request.onupgradeneeded = () => {
        const store = request.result.createObjectStore(STORE, { keyPath: 'clientId' });
        store.createIndex('userId', 'userId');
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => resolve(null);
      request.onblocked = () => resolve(null);
    });
  }
  return opening;
}

function run(mode, work) {
  return open().then((db) => {
    if (!db) return work(null);
    return new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const result = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(result?.result ?? result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  });
}

// `record`: { clientId, userId, item, blob }.
export async function put(record) {
  try {
    await run('readwrite', (store) => (store ? store.put(record) : memory.set(record.clientId, record)));
  } catch {
    // Quota reached: the attachment still goes out from this page.
    memory.set(record.clientId, record);
  }
}

export async function remove(clientId) {
  memory.delete(clientId);
  await run('readwrite', (store) => store?.delete(clientId)).catch(() => {});
}

// Every record of `userId`, oldest first.
export async function allOf(userId) {
  const kept = [...memory.values()].filter((r) => r.userId === userId);
  const stored = await run('readonly', (store) => store?.index('userId').getAll(userId)).catch(() => null);
  const all = [...(Array.isArray(stored) ? stored : []), ...kept];
  return all.sort((a, b) => a.item.createdAt.localeCompare(b.item.createdAt) || a.order - b.order);
}

export async function removeAllOf(userId) {
  for (const record of await allOf(userId)) await remove(record.clientId);
}
