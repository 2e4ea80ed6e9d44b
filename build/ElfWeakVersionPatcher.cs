// Marks one symbol-version requirement of an ELF64 shared library as weak (VER_FLG_WEAK), so that the dynamic
// loader accepts the library on systems whose dependency lacks that version. Used at build time on TorchSharp's
// libLibTorchSharp.so, which requires GLIBCXX_3.4.32 only for the marker symbol std::ios_base_library_init
// (nothing calls or relocates it); Debian 12 and Ubuntu 22.04 ship libstdc++ up to GLIBCXX_3.4.30.
using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class ElfWeakVersionPatcher : Task
{
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlagWeak = 0x2;

    /// <summary>Shared libraries to patch; missing files are ignored.</summary>
    [Required] public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();

    /// <summary>The version requirement to weaken, for example GLIBCXX_3.4.32.</summary>
    [Required] public string VersionName { get; set; } = "";

    /// <summary>Candidate paths of the system library that would provide the version.</summary>
    public ITaskItem[] SystemLibraries { get; set; } = Array.Empty<ITaskItem>();

    /// <summary>Patch on any build machine, whatever its libstdc++ provides: for files that travel to other machines
    /// (a tool package). A weak requirement is harmless where the version exists.</summary>
    public bool Always { get; set; }

    public override bool Execute()
    {
        if (!Always && !RuntimeInformation.IsOSPlatform(OSPlatform.Linux)) return true;
        if (!Always && SystemProvidesVersion())
        {
            Log.LogMessage(MessageImportance.Low, $"System library provides {VersionName}; nothing to patch.");
            return true;
        }
        foreach (var item in Files)
        {
            var path = item.ItemSpec;
            if (!File.Exists(path)) continue;
            try
            {
                var bytes = File.ReadAllBytes(path);
                var changed = Weaken(bytes, VersionName);
                if (changed)
                {
                    // Write beside, then rename: a cancelled build never leaves a truncated library behind.
                    var temp = path + ".patching";
                    File.WriteAllBytes(temp, bytes);
                    File.Replace(temp, path, null);
                    Log.LogMessage(MessageImportance.High, $"Marked {VersionName} weak in {path}");
                }
            }
            catch (Exception e) when (e is IOException || e is InvalidDataException || e is UnauthorizedAccessException)
            {
                Log.LogError($"Could not patch {path}: {e.Message}");
                return false;
            }
        }
        return !Log.HasLoggedErrors;
    }

    private bool SystemProvidesVersion()
    {
        var needle = Encoding.ASCII.GetBytes(VersionName + "\0");
        foreach (var lib in SystemLibraries)
        {
            if (File.Exists(lib.ItemSpec) && IndexOf(File.ReadAllBytes(lib.ItemSpec), needle) >= 0) return true;
        }
        return false;
    }

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j]) j++;
            if (j == needle.Length) return i;
        }
        return -1;
    }

    /// <summary>Sets VER_FLG_WEAK on every Vernaux entry named <paramref name="version"/>; true when a flag changed.</summary>
    public static bool Weaken(byte[] elf, string version)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1) throw new InvalidDataException("only little-endian ELF64 is supported");
        ulong sectionTable = BitConverter.ToUInt64(elf, 0x28);
        int entrySize = BitConverter.ToUInt16(elf, 0x3A);
        int count = BitConverter.ToUInt16(elf, 0x3C);
        bool changed = false;
        for (int i = 0; i < count; i++)
        {
            int header = checked((int)sectionTable + i * entrySize);
            if (BitConverter.ToUInt32(elf, header + 4) != ShtGnuVerneed) continue;
            int offset = checked((int)BitConverter.ToUInt64(elf, header + 0x18));
            int linked = (int)BitConverter.ToUInt32(elf, header + 0x28);
            int needCount = (int)BitConverter.ToUInt32(elf, header + 0x2C);
            int stringHeader = checked((int)sectionTable + linked * entrySize);
            int strings = checked((int)BitConverter.ToUInt64(elf, stringHeader + 0x18));
            int need = offset;
            for (int n = 0; n < needCount; n++)
            {
                int auxCount = BitConverter.ToUInt16(elf, need + 2);
                int aux = need + (int)BitConverter.ToUInt32(elf, need + 8);
                for (int a = 0; a < auxCount; a++)
                {
                    int nameOffset = strings + (int)BitConverter.ToUInt32(elf, aux + 8);
                    int end = Array.IndexOf(elf, (byte)0, nameOffset);
                    var name = Encoding.ASCII.GetString(elf, nameOffset, end - nameOffset);
                    ushort flags = BitConverter.ToUInt16(elf, aux + 4);
                    if (name == version && (flags & VerFlagWeak) == 0)
                    {
                        var weak = (ushort)(flags | VerFlagWeak);
                        elf[aux + 4] = (byte)(weak & 0xff);
                        elf[aux + 5] = (byte)(weak >> 8);
                        changed = true;
                    }
                    aux += (int)BitConverter.ToUInt32(elf, aux + 12);
                }
                need += (int)BitConverter.ToUInt32(elf, need + 12);
            }
        }
        return changed;
    }
}
