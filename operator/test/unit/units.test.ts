import { describe, expect, it } from "vitest";
import { parseDuration, parseQuantity } from "../../src/api/units.js";

describe("parseQuantity", () => {
  it("reads decimal, binary and exponent forms", () => {
    expect(parseQuantity("100m")).toBeCloseTo(0.1);
    expect(parseQuantity("2")).toBe(2);
    expect(parseQuantity(3)).toBe(3);
    expect(parseQuantity("1Gi")).toBe(2 ** 30);
    expect(parseQuantity("512Mi")).toBe(512 * 2 ** 20);
    expect(parseQuantity("1k")).toBe(1000);
    expect(parseQuantity("1e3")).toBe(1000);
    expect(parseQuantity("1.5Gi")).toBe(1.5 * 2 ** 30);
    for (const bad of ["", "1GB", "abc", "1 Gi"]) expect(parseQuantity(bad)).toBeNaN();
  });
});

describe("parseDuration", () => {
  it("reads the CRD's duration forms", () => {
    expect(parseDuration("2160h")).toBe(2160 * 3600_000);
    expect(parseDuration("1h30m")).toBe(90 * 60_000);
    expect(parseDuration("45s")).toBe(45_000);
    expect(parseDuration("250ms")).toBe(250);
    for (const bad of ["", "10", "1d", "h", "1h 2m", "-1h"]) expect(parseDuration(bad)).toBeNaN();
  });
});
