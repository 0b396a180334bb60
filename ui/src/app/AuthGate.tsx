import { createContext, useCallback, useContext, useEffect, useState, type ReactElement, type ReactNode } from 'react';
import { getApiKey, onUnauthorized, setApiKey } from '../api/http';
import { getAuthenticate } from '../api/runs';
import { LoginPage } from './LoginPage';

interface Session {
  /** The server asks for API keys (`SEMATIC_AUTHENTICATE=1`). */
  authRequired: boolean;
  /** Forgets the key and shows the login page. */
  signOut: () => void;
}

const SessionContext = createContext<Session>({ authRequired: false, signOut: () => undefined });

export function useSession(): Session {
  return useContext(SessionContext);
}

type Gate =
  | { kind: 'checking' }
  | { kind: 'login'; message: string | null }
  | { kind: 'in' };

/**
 * Asks the server (`GET /authenticate`) whether it wants an API key; when it
 * does and none is stored, or when any request is answered 401, shows the
 * login page instead of the dashboard. A new key remounts the dashboard, so
 * every page reads again with it.
 */
export function AuthGate({ children }: { children: ReactNode }): ReactElement {
  const [gate, setGate] = useState<Gate>({ kind: 'checking' });
  const [authRequired, setAuthRequired] = useState(false);
  const [session, setSession] = useState(0);

  useEffect(() => {
    const controller = new AbortController();
    getAuthenticate(controller.signal).then(
      (info) => {
        setAuthRequired(info.authenticate);
        setGate(info.authenticate && getApiKey() === null ? { kind: 'login', message: null } : { kind: 'in' });
      },
      (e: unknown) => {
        // The pages say what is wrong with the server; no reason to hide them.
        if (!controller.signal.aborted && !(e instanceof DOMException)) setGate({ kind: 'in' });
      },
    );
    return () => controller.abort();
  }, []);

  useEffect(
    () =>
      onUnauthorized(() => {
        setAuthRequired(true);
        setGate({
          kind: 'login',
          message:
            getApiKey() === null
              ? 'This server asks for an API key.'
              : 'The server did not accept the stored API key; enter another.',
        });
      }),
    [],
  );

  const signOut = useCallback(() => {
    setApiKey(null);
    setGate({ kind: 'login', message: null });
  }, []);

  const onLogin = useCallback(() => {
    setSession((s) => s + 1);
    setGate({ kind: 'in' });
  }, []);

  if (gate.kind === 'checking') return <p className="muted page-pad">Connecting to the Sematic server…</p>;
  if (gate.kind === 'login') return <LoginPage message={gate.message} onLogin={onLogin} />;
  return (
    <SessionContext.Provider value={{ authRequired, signOut }} key={session}>
      {children}
    </SessionContext.Provider>
  );
}
