import { ApiError, apiGet, onUnauthorized, setApiKey } from './http';
import { jsonResponse, mockFetch } from './testUtils';

afterEach(() => {
  vi.unstubAllGlobals();
  setApiKey(null);
});

describe('the HTTP client', () => {
  it("throws the server's own message with the status", async () => {
    mockFetch(() => jsonResponse({ error: "limit must be greater than 0 or -1, got '0'" }, 400));
    const e = await apiGet('/api/v1/runs?limit=0').catch((err: unknown) => err);
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).status).toBe(400);
    expect((e as ApiError).message).toBe("limit must be greater than 0 or -1, got '0'");
  });

  it('sends the stored key and tells the listeners about a 401', async () => {
    setApiKey('k-123');
    const f = mockFetch(() => jsonResponse({ error: 'Missing API key' }, 401));
    const heard = vi.fn();
    const stop = onUnauthorized(heard);
    await expect(apiGet('/api/v1/users')).rejects.toThrow('Missing API key');
    expect(f.calls[0].headers['X-API-KEY']).toBe('k-123');
    expect(heard).toHaveBeenCalledWith('Missing API key');
    stop();
    await expect(apiGet('/api/v1/users')).rejects.toThrow();
    expect(heard).toHaveBeenCalledTimes(1);
  });

  it('says the server is unreachable when fetch fails', async () => {
    vi.stubGlobal('fetch', vi.fn().mockRejectedValue(new TypeError('Failed to fetch')));
    await expect(apiGet('/api/v1/runs')).rejects.toThrow(/is 'sematic start' running/);
  });
});
