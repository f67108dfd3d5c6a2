using System.Runtime.InteropServices;

namespace PiOrchestrator.Native;

// Raw TurboJPEG 2.1 API (Debian libturbojpeg0). No tj3* symbols exist in 2.1. C "unsigned long" is nuint on Linux.
internal static unsafe partial class TurboJpeg
{
    public const string Library = "libturbojpeg.so.0";
    public const string DebianPackage = "libturbojpeg0";

    public const int TJPF_RGB = 0;
    public const int TJSAMP_420 = 2;
    public const int TJFLAG_FASTDCT = 2048;
    public const int TJFLAG_STOPONWARNING = 8192;
    /// <summary>Refuse a JPEG of more than 500 scans (a progressive decode bomb) instead of reading them all.</summary>
    public const int TJFLAG_LIMITSCANS = 32768;
    public const int TJERR_WARNING = 0;

    [StructLayout(LayoutKind.Sequential)]
    public struct ScalingFactor
    {
        public int Num;
        public int Denom;
    }

    [LibraryImport(Library, EntryPoint = "tjInitCompress")]
    public static partial nint InitCompress();

    [LibraryImport(Library, EntryPoint = "tjInitDecompress")]
    public static partial nint InitDecompress();

    [LibraryImport(Library, EntryPoint = "tjDestroy")]
    public static partial int Destroy(nint handle);

    [LibraryImport(Library, EntryPoint = "tjCompress2")]
    public static partial int Compress2(nint handle, byte* srcBuf, int width, int pitch, int height, int pixelFormat,
        byte** jpegBuf, nuint* jpegSize, int jpegSubsamp, int jpegQual, int flags);

    [LibraryImport(Library, EntryPoint = "tjDecompressHeader3")]
    public static partial int DecompressHeader3(nint handle, byte* jpegBuf, nuint jpegSize, out int width, out int height,
        out int jpegSubsamp, out int jpegColorspace);

    [LibraryImport(Library, EntryPoint = "tjDecompress2")]
    public static partial int Decompress2(nint handle, byte* jpegBuf, nuint jpegSize, byte* dstBuf, int width, int pitch,
        int height, int pixelFormat, int flags);

    [LibraryImport(Library, EntryPoint = "tjFree")]
    public static partial void Free(byte* buffer);

    [LibraryImport(Library, EntryPoint = "tjGetErrorStr2")]
    public static partial nint GetErrorStr2(nint handle);

    [LibraryImport(Library, EntryPoint = "tjGetErrorCode")]
    public static partial int GetErrorCode(nint handle);
}
