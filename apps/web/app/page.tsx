import { ContextsPanel } from "../components/ContextsPanel";
import { Header } from "../components/Header";

export default function DashboardPage() {
  return (
    <>
      <Header />
      <main className="main">
        <ContextsPanel />
      </main>
    </>
  );
}
