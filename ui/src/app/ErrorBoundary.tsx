import { Component, type ErrorInfo, type ReactNode } from 'react';

interface Props {
  /** Names the region in the message, so a user can tell which part failed. */
  region: string;
  children: ReactNode;
}

interface State {
  error: Error | null;
}

/** Keeps a failure in one region of the page from blanking the rest. */
export class ErrorBoundary extends Component<Props, State> {
  state: State = { error: null };

  static getDerivedStateFromError(error: Error): State {
    return { error };
  }

  componentDidCatch(error: Error, info: ErrorInfo): void {
    console.error(`dashboard ${this.props.region} failed`, error, info.componentStack);
  }

  render(): ReactNode {
    if (this.state.error !== null) {
      return (
        <div className="error-box" role="alert">
          <strong>The {this.props.region} failed to render.</strong>
          <pre>{this.state.error.message}</pre>
          <button type="button" onClick={() => this.setState({ error: null })}>
            Try again
          </button>
        </div>
      );
    }
    return this.props.children;
  }
}
