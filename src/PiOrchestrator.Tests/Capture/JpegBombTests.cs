using PiOrchestrator.Jpeg;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Capture;

/// <summary>Frames whose decode would cost more than a camera frame may: refused from their header, before libjpeg-turbo runs.</summary>
public class JpegBombTests
{
    [Fact]
    public void A_progressive_frame_is_refused_as_unsupported_before_decoding()
    {
        var progressive = TestJpegs.MakeProgressive(1);
        var check = JpegCodec.Check(progressive, 2560, 1920, out var thumbnail);
        Assert.False(check.Ok);
        Assert.Equal(CaptureFailure.UnsupportedJpeg, check.FailureReason);
        Assert.Contains("progressive", check.Detail);
        Assert.Null(thumbnail);
    }

    [Fact]
    public void A_progressive_frame_declaring_32768_squared_is_refused_without_the_decoder_allocating_for_it()
    {
        var bomb = TestJpegs.DeclaringSize(TestJpegs.MakeProgressive(2), 32768, 32768);
        var header = JpegValidator.CheckFrameHeader(bomb, 2560, 1920);
        Assert.Equal(CaptureFailure.UnsupportedJpeg, header.FailureReason);
        Assert.Contains("32768x32768", header.Detail);
        Assert.Equal(CaptureFailure.UnsupportedJpeg, JpegCodec.Check(bomb, 2560, 1920, out _).FailureReason);
    }

    [Fact]
    public void A_baseline_frame_over_the_size_limit_is_too_large_and_one_at_the_limit_decodes()
    {
        var frame = TestJpegs.Make(3, 1600, 1200);
        Assert.True(JpegCodec.Check(frame, 1600, 1200, out _).Ok);
        var check = JpegCodec.Check(frame, 1599, 1200, out _);
        Assert.Equal(CaptureFailure.TooLarge, check.FailureReason);
        Assert.Contains("1600x1200, over the 1599x1200 limit", check.Detail);

        var declared = TestJpegs.DeclaringSize(frame, 32768, 32768);
        Assert.Equal(CaptureFailure.TooLarge, JpegCodec.Check(declared, 2560, 1920, out _).FailureReason);
    }

    [Fact]
    public void Headers_that_lie_about_their_own_length_or_lack_a_frame_header_are_refused()
    {
        var frame = TestJpegs.Make(4);
        // The first segment (APP0) claims to run past the end of the file.
        var overlong = (byte[])frame.Clone();
        overlong[4] = 0xFF;
        overlong[5] = 0xFF;
        Assert.Equal(CaptureFailure.TruncatedJpeg, JpegValidator.CheckFrameHeader(overlong[..200], 2560, 1920).FailureReason);
        // A scan with no frame header before it.
        byte[] scanFirst = [0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, 0, 63, 0, 0xFF, 0xD9];
        Assert.Equal(CaptureFailure.CorruptJpeg, JpegValidator.CheckFrameHeader(scanFirst, 2560, 1920).FailureReason);
        // A frame header declaring no rows.
        Assert.Equal(CaptureFailure.CorruptJpeg, JpegValidator.CheckFrameHeader(TestJpegs.DeclaringSize(frame, 320, 0), 2560, 1920).FailureReason);
    }

    [Fact]
    public void Frames_the_camera_really_sends_pass_the_header_check_with_their_size()
    {
        var frame = TestJpegs.Make(5, 800, 600);
        var header = JpegValidator.CheckFrameHeader(frame, 2560, 1920);
        Assert.True(header.Ok, header.Detail);
        Assert.Equal((800, 600), (header.Width, header.Height));
    }
}
