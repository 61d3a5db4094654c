"use client";
import { useEffect, useState } from "react";

/** `value`, once it has not changed for `ms` (a typed namespace opens one watch, not one per keystroke). */
export function useDebounced<T>(value: T, ms = 400): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return settled;
}
