"use client";
/**
 * What the developer picked: the kubeconfig context, the namespace and the connection name.
 * Every screen reads it; it is kept in localStorage so a reload (or a second tab) starts there.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";

export interface Selection {
  context: string | null;
  namespace: string;
  connectionName: string | null;
}

interface SelectionApi extends Selection {
  /** Picks a context and its kubeconfig namespace (or all namespaces). */
  setContext: (context: string, namespace?: string | null) => void;
  setNamespace: (namespace: string) => void;
  setConnectionName: (name: string) => void;
}

const SelectionContext = createContext<SelectionApi | null>(null);
const STORAGE_KEY = "gefyra-ts.selection";

export function SelectionProvider({ children }: { children: ReactNode }) {
  const [selection, setSelection] = useState<Selection>({ context: null, namespace: "", connectionName: null });
  useEffect(() => {
    const load = () => {
      try {
        const saved = JSON.parse(window.localStorage.getItem(STORAGE_KEY) ?? "null") as Partial<Selection> | null;
        if (saved) setSelection((s) => ({ ...s, ...saved }));
      } catch {
        // a broken entry is ignored: the defaults apply
      }
    };
    load();
    // another tab picked something: follow it
    const onStorage = (e: StorageEvent) => e.key === STORAGE_KEY && load();
    window.addEventListener("storage", onStorage);
    return () => window.removeEventListener("storage", onStorage);
  }, []);
  const update = useCallback((patch: Partial<Selection>) => {
    setSelection((s) => {
      const next = { ...s, ...patch };
      try {
        window.localStorage.setItem(STORAGE_KEY, JSON.stringify(next));
      } catch {
        // private mode: the selection just is not remembered
      }
      return next;
    });
  }, []);
  const api = useMemo<SelectionApi>(
    () => ({
      ...selection,
      setContext: (context, namespace) => update({ context, namespace: namespace ?? "" }),
      setNamespace: (namespace) => update({ namespace }),
      setConnectionName: (connectionName) => update({ connectionName }),
    }),
    [selection, update],
  );
  return <SelectionContext.Provider value={api}>{children}</SelectionContext.Provider>;
}

export function useSelection(): SelectionApi {
  const api = useContext(SelectionContext);
  if (!api) throw new Error("useSelection outside SelectionProvider");
  return api;
}
