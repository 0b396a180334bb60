import { useState, type FormEvent, type ReactElement } from 'react';
import { ApiError, apiGet, setApiKey } from '../api/http';

interface LoginPageProps {
  /** Why the page is shown (a key the server refused), if anything beyond the usual. */
  message: string | null;
  onLogin: () => void;
}

/**
 * The page a server with `SEMATIC_AUTHENTICATE=1` shows first: the user's
 * API key, checked against the server, then kept in this browser.
 */
export function LoginPage({ message, onLogin }: LoginPageProps): ReactElement {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    const trimmed = key.trim();
    if (trimmed === '') {
      setError('Enter your API key.');
      return;
    }
    setBusy(true);
    setError(null);
    setApiKey(trimmed);
    try {
      await apiGet('/api/v1/users');
      onLogin();
    } catch (err) {
      setApiKey(null);
      setError(
        err instanceof ApiError && err.status === 401
          ? 'The server does not know this key. Check it, or make a new one with sematic users create.'
          : `Could not check the key: ${err instanceof Error ? err.message : String(err)}`,
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="login">
      <form className="login-card" onSubmit={(e) => void submit(e)} data-testid="login">
        <h1>Sematic</h1>
        <p>This server asks for an API key.</p>
        {message !== null && <p className="muted">{message}</p>}
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autoComplete="current-password"
          data-testid="api-key-input"
          value={key}
          onChange={(e) => setKey(e.target.value)}
          autoFocus
        />
        {error !== null && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" data-testid="login-submit" disabled={busy}>
          {busy ? 'Checking…' : 'Log in'}
        </button>
        <p className="muted small">
          On the machine that holds the store, <code>sematic users create EMAIL</code> makes a user and prints
          their key, once. The SDK uses the same key from <code>SEMATIC_API_KEY</code>. The key is kept in this
          browser&apos;s local storage.
        </p>
      </form>
    </div>
  );
}
