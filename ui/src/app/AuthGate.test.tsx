import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { ApiError, apiGet, getApiKey, setApiKey } from '../api/http';
import { jsonResponse, mockFetch } from '../api/testUtils';
import { AuthGate } from './AuthGate';

afterEach(() => {
  vi.unstubAllGlobals();
  setApiKey(null);
});

describe('AuthGate', () => {
  it('shows the dashboard at once when the server asks for no key', async () => {
    mockFetch(() => ({ authenticate: false, providers: {} }));
    render(<AuthGate>dashboard</AuthGate>);
    expect(await screen.findByText('dashboard')).toBeTruthy();
  });

  it('asks for the key, checks it with the server, keeps it', async () => {
    const f = mockFetch((url, call) => {
      if (url.pathname === '/authenticate') return { authenticate: true, providers: {} };
      return call.headers['X-API-KEY'] === 'good-key'
        ? { content: [] }
        : jsonResponse({ error: 'Missing API key' }, 401);
    });
    render(<AuthGate>dashboard</AuthGate>);
    expect(await screen.findByTestId('login')).toBeTruthy();
    expect(screen.getByTestId('login').textContent).toContain('sematic users create EMAIL');

    fireEvent.change(screen.getByTestId('api-key-input'), { target: { value: 'bad-key' } });
    fireEvent.click(screen.getByTestId('login-submit'));
    expect((await screen.findByRole('alert')).textContent).toContain('does not know this key');
    expect(getApiKey()).toBeNull();

    fireEvent.change(screen.getByTestId('api-key-input'), { target: { value: ' good-key ' } });
    fireEvent.click(screen.getByTestId('login-submit'));
    expect(await screen.findByText('dashboard')).toBeTruthy();
    expect(getApiKey()).toBe('good-key');
    expect(f.callsTo('/api/v1/users').at(-1)?.headers['X-API-KEY']).toBe('good-key');
  });

  it('goes back to the login page when a request is answered 401', async () => {
    setApiKey('revoked');
    mockFetch((url) =>
      url.pathname === '/authenticate'
        ? { authenticate: true, providers: {} }
        : jsonResponse({ error: 'Missing API key' }, 401),
    );
    render(<AuthGate>dashboard</AuthGate>);
    expect(await screen.findByText('dashboard')).toBeTruthy();
    await act(async () => {
      await apiGet('/api/v1/runs').catch((e: unknown) => expect(e).toBeInstanceOf(ApiError));
    });
    await waitFor(() => expect(screen.getByTestId('login').textContent).toContain('did not accept the stored API key'));
  });
});
