/** What every view of the desk reads: the session, who is signed in, the live status. */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Session, Me } from './session.ts';

export interface Desk {
  session: Session;
  me: Me | null;
  /** Changes whenever the token does: views subscribe again and reload. */
  generation: number;
  /** The API refused the token (401/403 on a read): views show that instead of data. */
  onRefused(detail: string | undefined): void;
}

export const DeskContext = createContext<Desk | null>(null);

export function useDesk(): Desk {
  const desk = useContext(DeskContext);
  if (!desk) throw new Error('useDesk outside the desk');
  return desk;
}
