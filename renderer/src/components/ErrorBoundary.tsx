// Catches render errors of one screen and shows them in place, so a bug never blanks the app.
import { Component, type ErrorInfo, type ReactNode } from 'react';

interface Props {
  children: ReactNode;
  /** What failed, in the user's words, e.g. "the Knowledge screen". */
  what: string;
}

export class ErrorBoundary extends Component<Props, { error: Error | null }> {
  override state: { error: Error | null } = { error: null };

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  override componentDidCatch(error: Error, info: ErrorInfo) {
    console.error(`ParamKB: ${this.props.what} failed to render`, error, info.componentStack);
  }

  override render() {
    if (!this.state.error) return this.props.children;
    return (
      <div className="error-panel" role="alert">
        <h2>Something went wrong in {this.props.what}</h2>
        <p className="error-panel__message">{this.state.error.message}</p>
        <button className="button" onClick={() => this.setState({ error: null })}>Try again</button>
      </div>
    );
  }
}
