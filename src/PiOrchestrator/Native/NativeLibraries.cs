using System.Runtime.InteropServices;

namespace PiOrchestrator.Native;

internal static class NativeLibraries
{
    /// <summary>Loads a native library up front, so a missing one is one message naming the Debian package.</summary>
    public static bool TryLoad(string library, string debianPackage, out string error)
    {
        if (NativeLibrary.TryLoad(library, typeof(NativeLibraries).Assembly, null, out _))
        {
            error = "";
            return true;
        }
        error = $"{library} cannot be loaded: install the Debian package {debianPackage} (apt-get install {debianPackage})";
        return false;
    }

    /// <summary>True when the library loads; it stays loaded for the P/Invokes that bind to it later.</summary>
    public static bool CanLoad(string library) =>
        NativeLibrary.TryLoad(library, typeof(NativeLibraries).Assembly, null, out _);
}
