// The page's own downloads (the sample recording, its labels and stimuli), read once each
// when prefetched.

async function fetchOk(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not fetch ${url}: HTTP ${response.status}`);
  return response;
}
export const fetchJson = async (url) => (await fetchOk(url)).json();
export const fetchBytes = async (url) => (await fetchOk(url)).arrayBuffer();

// The sample's files are fetched while the engine and model load, each used once; later
// reads fetch again.
const prefetched = new Map();
export function prefetch(url, fetcher) {
  const response = fetcher(url);
  response.catch(() => {}); // reported when taken, not as an unhandled rejection
  prefetched.set(url, response);
}
export function takePrefetched(url, fetcher) {
  const response = prefetched.get(url);
  prefetched.delete(url);
  return response ?? fetcher(url);
}
