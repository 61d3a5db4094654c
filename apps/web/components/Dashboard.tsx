"use client";
import { useCallback, useEffect, useState } from "react";
import { BridgesProvider } from "../lib/bridges";
import { SelectionProvider } from "../lib/selection";
import { BridgesPanel } from "./BridgesPanel";
import { ConnectionPanel } from "./ConnectionPanel";
import { ContainersPanel } from "./ContainersPanel";
import { ContextsPanel, DefaultContext } from "./ContextsPanel";
import { ProfilesPanel } from "./ProfilesPanel";
import { TrafficPanel } from "./TrafficPanel";
import { WorkloadsPanel } from "./WorkloadsPanel";

const SCREENS = [
  { id: "connection", label: "Cluster" },
  { id: "workloads", label: "Workloads" },
  { id: "containers", label: "Local containers" },
  { id: "bridges", label: "Bridges" },
  { id: "profiles", label: "Profiles" },
  { id: "traffic", label: "Traffic" },
] as const;
type Screen = (typeof SCREENS)[number]["id"];

/** The screens, as tabs; the URL's #hash names the open one so a reload stays there. */
export function Dashboard() {
  const [screen, setScreen] = useState<Screen>("connection");
  useEffect(() => {
    const fromHash = () => {
      const id = window.location.hash.slice(1);
      if (SCREENS.some((s) => s.id === id)) setScreen(id as Screen);
    };
    fromHash();
    window.addEventListener("hashchange", fromHash);
    return () => window.removeEventListener("hashchange", fromHash);
  }, []);
  const open = (id: Screen) => {
    setScreen(id);
    window.history.replaceState(null, "", `#${id}`);
  };
  // "Bridge…" on a workloads row opens the wizard with that target
  const [bridgeTarget, setBridgeTarget] = useState<string | null>(null);
  const bridgeRow = (rowKey: string) => {
    setBridgeTarget(rowKey);
    open("bridges");
  };
  const presetUsed = useCallback(() => setBridgeTarget(null), []);
  return (
    <SelectionProvider>
      <BridgesProvider>
        <DefaultContext />
        <nav className="tabs" role="tablist" aria-label="Screens">
          {SCREENS.map((s) => (
            <button key={s.id} type="button" role="tab" id={`tab-${s.id}`} aria-selected={screen === s.id} aria-controls={`screen-${s.id}`} className="tab" onClick={() => open(s.id)}>
              {s.label}
            </button>
          ))}
        </nav>
        <main className="main" role="tabpanel" id={`screen-${screen}`} aria-labelledby={`tab-${screen}`}>
          {screen === "connection" ? (
            <>
              <ContextsPanel />
              <ConnectionPanel />
            </>
          ) : screen === "workloads" ? (
            <WorkloadsPanel onBridge={bridgeRow} />
          ) : screen === "containers" ? (
            <ContainersPanel />
          ) : screen === "profiles" ? (
            <ProfilesPanel />
          ) : screen === "traffic" ? (
            <TrafficPanel />
          ) : (
            <BridgesPanel preset={bridgeTarget} onPresetUsed={presetUsed} />
          )}
        </main>
      </BridgesProvider>
    </SelectionProvider>
  );
}
