// Hands the app store to every component; tests provide a store built on a fake ApiClient.
import { createContext, useContext, type ReactNode } from 'react';
import { useStore } from 'zustand';
import type { AppActions, AppState, AppStore } from './store.js';

const StoreContext = createContext<AppStore | null>(null);

export function StoreProvider({ store, children }: { store: AppStore; children: ReactNode }) {
  return <StoreContext.Provider value={store}>{children}</StoreContext.Provider>;
}

/** Selects one slice of the store; select single values (zustand compares by identity). */
export function useApp<T>(selector: (state: AppState & AppActions) => T): T {
  const store = useContext(StoreContext);
  if (!store) throw new Error('useApp must be used inside <StoreProvider>.');
  return useStore(store, selector);
}

/** The store itself, for code outside React's render (event listeners, shortcuts). */
export function useStoreApi(): AppStore {
  const store = useContext(StoreContext);
  if (!store) throw new Error('useStoreApi must be used inside <StoreProvider>.');
  return store;
}
