using System.Runtime.InteropServices;

namespace PiOrchestrator.Native;

// glibc's adjtimex(2). With modes = 0 it only reads the kernel's NTP state. struct timex is opaque here: only
// `status` is read, at its offset (after `unsigned modes` padded to a long and four longs), on 64- and 32-bit alike.
internal static unsafe partial class LibC
{
    public const string Library = "libc.so.6";

    /// <summary>Set by the kernel until an NTP client (timesyncd, chrony, ntpd) declares the clock synchronised.</summary>
    public const int STA_UNSYNC = 0x0040;

    /// <summary>Room for struct timex on every ABI (208 bytes on 64-bit, 128 on 32-bit).</summary>
    public const int TimexBufferSize = 256;

    public static int TimexStatusOffset => 5 * IntPtr.Size;

    [LibraryImport(Library, EntryPoint = "adjtimex", SetLastError = true)]
    public static partial int AdjTimex(byte* timex);
}
