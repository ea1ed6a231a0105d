/**
 * Path routing for the desk: `/` (the board, its filters in the query string),
 * `/desk/claims/:id[?version=N]` (a claim, optionally as it was), `/desk/new` (submit a
 * claim), `/desk/audit` (the auditor's view), `/desk/stats` (desk analytics). The server answers every one of these paths
 * with the same page.
 */
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { name: 'board'; query: URLSearchParams }
  | { name: 'claim'; id: string; query: URLSearchParams }
  | { name: 'new' }
  | { name: 'audit' }
  | { name: 'stats' }
  | { name: 'missing'; path: string };

export function parseRoute(location: Location): Route {
  const query = new URLSearchParams(location.search);
  const path = location.pathname;
  if (path === '/' || path === '/desk' || path === '/desk/') return { name: 'board', query };
  const claim = /^\/desk\/claims\/([0-9a-fA-F-]{36})\/?$/.exec(path);
  if (claim) return { name: 'claim', id: claim[1]!.toLowerCase(), query };
  if (path === '/desk/new') return { name: 'new' };
  if (path === '/desk/audit') return { name: 'audit' };
  if (path === '/desk/stats') return { name: 'stats' };
  return { name: 'missing', path };
}

const listeners = new Set<() => void>();

export function navigate(url: string, replace = false): void {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  for (const listener of listeners) listener();
}

addEventListener('popstate', () => {
  for (const listener of listeners) listener();
});

// Same-origin links marked data-nav move without a reload (keyboard Enter included).
document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = (event.target as Element | null)?.closest?.('a[data-nav]') as HTMLAnchorElement | null;
  if (!link || link.origin !== location.origin) return;
  event.preventDefault();
  navigate(link.pathname + link.search);
});

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location));
    listeners.add(update);
    return () => void listeners.delete(update);
  }, []);
  return route;
}

export function claimPath(id: string, version?: number): string {
  return `/desk/claims/${id}${version !== undefined ? `?version=${version}` : ''}`;
}
