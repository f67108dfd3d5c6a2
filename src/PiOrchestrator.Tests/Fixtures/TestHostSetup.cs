using System.Runtime.CompilerServices;

namespace PiOrchestrator.Tests.Fixtures;

internal static class TestHostSetup
{
    /// <summary>
    /// The fake cameras run on Kestrel inside this process while tests block on processes and SQLite; without spare
    /// pool threads a camera answer can wait long enough to look like a camera timeout.
    /// </summary>
    [ModuleInitializer]
    internal static void Initialise() => ThreadPool.SetMinThreads(64, 64);
}
