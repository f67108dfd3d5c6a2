namespace PiOrchestrator.Hosting;

/// <summary>
/// Tags of the agent's health checks: <see cref="Live"/> ones answer /healthz (every loop alive), <see cref="Ready"/>
/// ones /readyz (evidence can be served). A check puts what it found in its result's data, name → state (such as
/// "store" → "ok"), which the probe lists as its checks.
/// </summary>
public static class Probes
{
    public const string Live = "live";
    public const string Ready = "ready";
}
