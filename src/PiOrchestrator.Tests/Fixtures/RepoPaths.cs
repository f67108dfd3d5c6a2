namespace PiOrchestrator.Tests.Fixtures;

public static class RepoPaths
{
    /// <summary>The checkout this test build came from (the folder holding Nexbasira.Edge.sln).</summary>
    public static string Root
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Nexbasira.Edge.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("repository root not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>Where scripts/test.sh installs the npm test tools.</summary>
    public static string TestTools => Path.Combine(Root, "test-tools");
}
