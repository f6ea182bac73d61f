// Reads a zip the way GBIF's Java tools stream one: java.util.zip.ZipInputStream, entry after
// entry, without the central directory. Prints "name<TAB>bytes" per entry; exit 1 on failure.
import java.io.BufferedInputStream;
import java.io.FileInputStream;
import java.io.InputStream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;

public class ZipStream {
    public static void main(String[] args) throws Exception {
        InputStream in = new BufferedInputStream(new FileInputStream(args[0]));
        try (ZipInputStream zip = new ZipInputStream(in)) {
            byte[] buffer = new byte[8192];
            ZipEntry entry;
            while ((entry = zip.getNextEntry()) != null) {
                long total = 0;
                int n;
                while ((n = zip.read(buffer)) > 0) {
                    total += n;
                }
                System.out.println(entry.getName() + "\t" + total);
            }
        }
    }
}
