//! The `.npy` header: a Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }` followed by padding.
//!
//! Only what NumPy writes is accepted: string keys and string values in single or double quotes,
//! `True`/`False`, and tuples of non-negative integers; the three keys exactly once each.

/// The three fields of a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderFields {
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<u64>,
}

enum Value {
    Text(String),
    Bool(bool),
    Tuple(Vec<u64>),
}

/// Parses the header text; the error says what was wrong and where.
pub(crate) fn parse(text: &str) -> Result<HeaderFields, String> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        at: 0,
    };
    parser.skip_space();
    parser.expect(b'{')?;
    let (mut descr, mut fortran_order, mut shape) = (None, None, None);
    loop {
        parser.skip_space();
        if parser.eat(b'}') {
            break;
        }
        let key = parser.string()?;
        parser.skip_space();
        parser.expect(b':')?;
        parser.skip_space();
        let value = parser.value()?;
        let duplicate = match (key.as_str(), value) {
            ("descr", Value::Text(text)) => descr.replace(text).is_some(),
            ("fortran_order", Value::Bool(flag)) => fortran_order.replace(flag).is_some(),
            ("shape", Value::Tuple(dims)) => shape.replace(dims).is_some(),
            ("descr" | "fortran_order" | "shape", _) => {
                return Err(format!("'{key}' has the wrong type"));
            }
            _ => return Err(format!("unexpected key {key:?}")),
        };
        if duplicate {
            return Err(format!("'{key}' appears twice"));
        }
        parser.skip_space();
        if parser.eat(b',') {
            continue;
        }
        parser.skip_space();
        parser.expect(b'}')?;
        break;
    }
    if parser.bytes[parser.at..]
        .iter()
        .any(|byte| !byte.is_ascii_whitespace())
    {
        return Err(format!(
            "unexpected text after the dict at offset {}",
            parser.at
        ));
    }
    Ok(HeaderFields {
        descr: descr.ok_or("'descr' is missing")?,
        fortran_order: fortran_order.ok_or("'fortran_order' is missing")?,
        shape: shape.ok_or("'shape' is missing")?,
    })
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        if self.eat(byte) {
            Ok(())
        } else {
            Err(format!(
                "expected '{}' at offset {}",
                char::from(byte),
                self.at
            ))
        }
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(|byte| byte.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let quote = match self.peek() {
            Some(quote @ (b'\'' | b'"')) => quote,
            _ => return Err(format!("expected a quoted string at offset {}", self.at)),
        };
        let start = self.at + 1;
        let Some(length) = self.bytes[start..].iter().position(|byte| *byte == quote) else {
            return Err(format!("unterminated string at offset {}", self.at));
        };
        let text = &self.bytes[start..start + length];
        if text.contains(&b'\\') {
            return Err(format!(
                "escapes are not expected in the header (offset {start})"
            ));
        }
        self.at = start + length + 1;
        Ok(String::from_utf8_lossy(text).into_owned())
    }

    fn value(&mut self) -> Result<Value, String> {
        match self.peek() {
            Some(b'\'' | b'"') => self.string().map(Value::Text),
            Some(b'(') => self.tuple().map(Value::Tuple),
            Some(b'T') if self.bytes[self.at..].starts_with(b"True") => {
                self.at += 4;
                Ok(Value::Bool(true))
            }
            Some(b'F') if self.bytes[self.at..].starts_with(b"False") => {
                self.at += 5;
                Ok(Value::Bool(false))
            }
            _ => Err(format!("unexpected value at offset {}", self.at)),
        }
    }

    fn tuple(&mut self) -> Result<Vec<u64>, String> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            self.skip_space();
            if self.eat(b')') {
                return Ok(dims);
            }
            let start = self.at;
            while self.peek().is_some_and(|byte| byte.is_ascii_digit()) {
                self.at += 1;
            }
            // Python 2 wrote `3L` for longs.
            let digits = std::str::from_utf8(&self.bytes[start..self.at]).unwrap_or("");
            self.eat(b'L');
            if digits.is_empty() {
                return Err(format!("expected a dimension at offset {start}"));
            }
            let dim = digits
                .parse::<u64>()
                .map_err(|_| format!("dimension {digits} is too large"))?;
            dims.push(dim);
            if dims.len() > 32 {
                return Err("more than 32 dimensions".into());
            }
            self.skip_space();
            if !self.eat(b',') {
                self.skip_space();
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_numpy_writes() {
        let fields =
            parse("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }          \n")
                .unwrap();
        assert_eq!(
            fields,
            HeaderFields {
                descr: "<f4".into(),
                fortran_order: false,
                shape: vec![3, 4]
            }
        );
    }

    #[test]
    fn accepts_spacing_quotes_and_order_variants() {
        let fields = parse(r#"{ "shape":(7,) ,"fortran_order":True,"descr":">f8"}"#).unwrap();
        assert_eq!(fields.shape, vec![7]);
        assert!(fields.fortran_order);
        assert_eq!(
            parse("{'descr':'<f4','fortran_order':False,'shape':()}")
                .unwrap()
                .shape,
            Vec::<u64>::new()
        );
        assert_eq!(
            parse("{'descr':'<f4','fortran_order':False,'shape':(2L, 3L)}")
                .unwrap()
                .shape,
            vec![2, 3]
        );
    }

    #[test]
    fn refuses_malformed_headers() {
        let cases = [
            ("", "expected '{'"),
            (
                "{'descr': '<f4', 'fortran_order': False}",
                "'shape' is missing",
            ),
            (
                "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1, 1)}",
                "appears twice",
            ),
            (
                "{'descr': '<f4', 'fortran_order': 0, 'shape': (1, 1)}",
                "unexpected value",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1, -1)}",
                "expected a dimension",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), 'x': 'y'}",
                "unexpected key",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1)} junk",
                "unexpected text",
            ),
            (
                "{'descr': '<f4\\'', 'fortran_order': False, 'shape': (1, 1)}",
                "escapes",
            ),
            ("{'descr: '<f4'", "expected ':'"),
            (
                "{'descr': 3, 'fortran_order': False, 'shape': (1, 1)}",
                "unexpected value",
            ),
            (
                "{'descr': (1,), 'fortran_order': False, 'shape': (1, 1)}",
                "wrong type",
            ),
        ];
        for (text, expected) in cases {
            let error = parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }
}
